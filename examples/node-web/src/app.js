'use strict';
// The request handler, kept apart from the listener so tests can call it directly.
const ms = require('ms');

function handle(req) {
  if (req.url === '/health') return { status: 200, body: 'ok' };
  if (req.url === '/uptime') return { status: 200, body: ms(Math.round(process.uptime() * 1000), { long: true }) };
  if (req.url.startsWith('/hello/')) {
    const name = decodeURIComponent(req.url.slice('/hello/'.length));
    return { status: 200, body: `hello, ${name.replace(/[<>&]/g, '')}` };
  }
  return { status: 404, body: 'not found' };
}
module.exports = { handle };
