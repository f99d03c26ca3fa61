// Speaks the legacy graphql-ws protocol (subscriptions-transport-ws) over a raw `ws` socket.
// Usage: node legacy_ws_subscribe.mjs <ws-url> <query> <variables-json>
// Prints {messages, binaryFrames} as JSON after the operation's complete; exits 1 otherwise.
import WebSocket from 'ws';

const [url, query, variables] = process.argv.slice(2);
const socket = new WebSocket(url, 'graphql-ws');
const messages = [];
let binaryFrames = 0;
const finish = (code) => {
  console.log(JSON.stringify({ messages, binaryFrames }));
  socket.close(1000);
  process.exit(code);
};

setTimeout(() => finish(1), 15000).unref();
socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
socket.on('message', (data, isBinary) => {
  if (isBinary) binaryFrames += 1;
  const message = JSON.parse(data.toString());
  messages.push(message);
  if (message.type === 'connection_ack') {
    socket.send(JSON.stringify({ id: '1', type: 'start', payload: { query, variables: JSON.parse(variables) } }));
  } else if (message.type === 'complete' || message.type === 'error' || message.type === 'connection_error') {
    finish(message.type === 'complete' ? 0 : 1);
  }
});
socket.on('error', () => finish(1));
socket.on('close', () => finish(1));
