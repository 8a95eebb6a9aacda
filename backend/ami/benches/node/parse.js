// Feeds an AMI byte stream through asterisk-manager's own parser and times it.
//
// asterisk-manager parses in its socket 'data' handler (ManagerReader in lib/ami.js,
// then ManagerEvent, which emits 'managerevent' on process.nextTick). The library opens
// its socket with net.createConnection; this script hands it an in-memory socket
// instead, so the timing covers the library's parsing and event emission, not the
// kernel — the same ground the Rust side covers. The bytes arrive in 64 KiB chunks,
// decoded to strings as a real socket with setEncoding('utf-8') would, and pending
// nextTick callbacks run between chunks as they would between socket reads.
//
// Usage: node parse.js STREAM_FILE [RUNS]
// Prints one line: `messages=N events=N bytes=N seconds=S` for the fastest run.
'use strict';

const fs = require('fs');
const net = require('net');
const { EventEmitter } = require('events');
const { StringDecoder } = require('string_decoder');

const CHUNK = 64 * 1024;

class MemorySocket extends EventEmitter {
  constructor() {
    super();
    this.decoder = new StringDecoder('utf8');
    this.readyState = 'open';
  }
  setKeepAlive() {}
  setNoDelay() {}
  setEncoding(encoding) {
    this.decoder = new StringDecoder(encoding);
  }
  write() {
    return true;
  }
  end() {}
}

let socket = null;
net.createConnection = function createConnection() {
  socket = new MemorySocket();
  return socket;
};

const Manager = require('asterisk-manager');

async function run(data) {
  // A port makes the library connect (to the memory socket); no username, no login.
  const ami = new Manager(5038, '127.0.0.1');
  let messages = 0;
  let events = 0;
  ami.on('rawevent', () => {
    messages += 1;
  });
  ami.on('managerevent', () => {
    events += 1;
  });
  const start = process.hrtime.bigint();
  for (let offset = 0; offset < data.length; offset += CHUNK) {
    socket.emit('data', socket.decoder.write(data.subarray(offset, offset + CHUNK)));
    await new Promise(setImmediate);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  ami.removeAllListeners();
  return { messages, events, seconds };
}

async function main() {
  const file = process.argv[2];
  const runs = Number(process.argv[3] || 3);
  if (!file) {
    throw new Error('usage: node parse.js STREAM_FILE [RUNS]');
  }
  const data = fs.readFileSync(file);
  let best = null;
  for (let i = 0; i < runs; i += 1) {
    const result = await run(data);
    if (best === null || result.seconds < best.seconds) {
      best = result;
    }
  }
  console.log(
    `messages=${best.messages} events=${best.events} bytes=${data.length} seconds=${best.seconds}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
