'use strict';
const http = require('node:http');
const { handle } = require('./app');

const port = Number(process.env.PORT || 8080);
http.createServer((req, res) => {
  const { status, body } = handle(req);
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}).listen(port, () => console.log(`listening on ${port}`));
