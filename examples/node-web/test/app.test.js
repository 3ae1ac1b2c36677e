'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { handle } = require('../src/app');

test('health', () => assert.deepStrictEqual(handle({ url: '/health' }), { status: 200, body: 'ok' }));
test('hello strips markup', () => assert.strictEqual(handle({ url: '/hello/%3Cb%3Ekiln' }).body, 'hello, bkiln'));
test('unknown path', () => assert.strictEqual(handle({ url: '/nope' }).status, 404));
test('uptime is human-readable', () => assert.match(handle({ url: '/uptime' }).body, /(ms|second|seconds)$/));
