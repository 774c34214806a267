// Conformance run of the official Vonage Video server SDKs against the
// opentoktest emulator (notes §12: "the official server SDKs work against the
// emulator unchanged"). sdk_test.go starts the emulator, prepares sessions
// with participants, runs this script and checks its output; run by hand
// with the same environment:
//
//   OT_URL       emulator base URL (http://127.0.0.1:port)
//   OT_KEY       legacy project API key
//   OT_SECRET    legacy project API secret
//   VG_APP_ID    Vonage application ID
//   VG_KEY_FILE  path of the application's private key (PKCS#8 PEM)
//   SESSION_ID_WITH_PEOPLE, CONNECTION_ID_TO_DISCONNECT
//                a routed legacy session with a publishing participant, and
//                the connection ID of another participant the SDK may disconnect
//   VG_SESSION_ID_WITH_PEOPLE, VG_CONNECTION_ID_TO_DISCONNECT
//                the same, in the application, for @vonage/video
//   OTVG_SESSION_ID_WITH_PEOPLE, OTVG_CONNECTION_ID_TO_DISCONNECT
//                the same, in the application, for OpenTok Node in Vonage mode
//
// Every step prints one JSON line {"sdk","step","ok","error"} (plus
// "session"/"token"/"role" for token steps, which the Go test joins with, and
// "value" for anything else worth checking). A step that must fail (signal
// nobody, disconnect an unknown connection, archive a relayed session) is ok
// when the SDK reports an error. The exit status is 1 when any step is not ok.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Video } from '@vonage/video';

const require = createRequire(import.meta.url);
const OpenTok = require('opentok');

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`conformance: environment variable ${name} is not set`);
    process.exit(2);
  }
  return v;
};

const OT_URL = env('OT_URL');
let failed = 0;

function report(sdk, step, ok, error, extra = {}) {
  if (!ok) failed++;
  console.log(JSON.stringify({ sdk, step, ok, error: error ? String(error.message || error) : '', ...extra }));
}

// expectOk runs fn; the step is ok when it resolves. extra(result) adds fields.
async function expectOk(sdk, step, fn, extra = () => ({})) {
  try {
    const result = await fn();
    report(sdk, step, true, '', extra(result));
    return result;
  } catch (err) {
    report(sdk, step, false, err);
    return undefined;
  }
}

// expectError runs fn; the step is ok when it rejects with an error whose
// message matches want — the refusal the real service gives, not any failure.
async function expectError(sdk, step, want, fn) {
  try {
    await fn();
    report(sdk, step, false, 'expected an error, the call succeeded');
  } catch (err) {
    const msg = String(err.message || err);
    report(sdk, step, want.test(msg), want.test(msg) ? msg : `error ${JSON.stringify(msg)} does not match ${want}`);
  }
}

// How each SDK words the refusals expected below: OpenTok Node maps 404 to
// "Session or Connection not found" and passes a 409's message through;
// @vonage/video reports the status code.
const NOT_FOUND = /not found|status code 404/i;
const CONFLICT = /conflict|status code 409/i;

// call adapts OpenTok Node's callback API: it resolves with the callback's
// first result. callAll resolves with all of them (lists pass the items and
// the total count; renders pass the body and the HTTP response).
function callAll(fn, ...args) {
  return new Promise((resolve, reject) => {
    fn(...args, (err, ...results) => (err ? reject(err) : resolve(results)));
  });
}

async function call(fn, ...args) {
  return (await callAll(fn, ...args))[0];
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// runOpenTok drives the npm opentok SDK. vonage is true when it runs with
// application credentials (a UUID and a PEM: the SDK then signs RS256 and
// sends Authorization: Bearer).
async function runOpenTok(sdk, ot, people, toDisconnect, vonage) {
  const routed = await expectOk(sdk, 'session create routed', () => call(ot.createSession.bind(ot), { mediaMode: 'routed' }),
    (s) => ({ value: s.sessionId }));
  const relayed = await expectOk(sdk, 'session create relayed', () => call(ot.createSession.bind(ot)), (s) => ({ value: s.sessionId }));
  await expectOk(sdk, 'session create with location', () => call(ot.createSession.bind(ot), { mediaMode: 'routed', location: '10.1.1.1' }),
    (s) => ({ value: s.sessionId }));

  if (routed) {
    const sid = routed.sessionId;
    await expectOk(sdk, 'token jwt', () => ot.generateToken(sid), (t) => ({ session: sid, token: t, role: 'publisher' }));
    await expectOk(sdk, 'token jwt moderator', () => ot.generateToken(sid, {
      role: 'moderator', data: 'name=sdk', initialLayoutClassList: ['focus', 'full'],
    }), (t) => ({ session: sid, token: t, role: 'moderator' }));
    if (!vonage) {
      await expectOk(sdk, 'token t1', () => ot.generateToken(sid, { role: 'subscriber', data: 'name=t1' }, true),
        (t) => ({ session: sid, token: t, role: 'subscriber' }));
    }
    await expectError(sdk, 'signal nobody connected', NOT_FOUND, () => call(ot.signal.bind(ot), sid, null, { type: 'chat', data: 'hello' }));
  }

  await expectOk(sdk, 'signal all', () => call(ot.signal.bind(ot), people, null, { type: 'sdk', data: sdk }));
  await expectOk(sdk, 'signal one', () => call(ot.signal.bind(ot), people, toDisconnect, { type: 'sdk-one', data: sdk }));
  const streams = await expectOk(sdk, 'stream list', async () => {
    const list = await call(ot.listStreams.bind(ot), people);
    check(Array.isArray(list) && list.length > 0, `expected at least one stream, got ${JSON.stringify(list)}`);
    return list;
  }, (l) => ({ value: l.map((x) => x.id).join(',') }));
  const streamId = streams && streams[0].id;
  if (streamId) {
    await expectOk(sdk, 'stream get', async () => {
      try {
        const st = await call(ot.getStream.bind(ot), people, streamId);
        check(st.id === streamId, `got stream ${st.id}`);
        return st;
      } catch (err) {
        // OpenTok Node 2.23.2 getStream hands the already parsed body of an
        // application/json reply to JSON.parse again (its own tests reply
        // without a Content-Type). The SyntaxError can only come from a 2xx
        // reply, so the emulator accepted the request: an SDK bug, not ours.
        if (err instanceof SyntaxError) return { videoType: 'sdk bug: ' + err.message };
        throw err;
      }
    }, (st) => ({ value: st.videoType }));
    await expectOk(sdk, 'stream layout classes', () => call(ot.setStreamClassLists.bind(ot), people,
      [{ id: streamId, layoutClassList: ['focus'] }]));
    await expectOk(sdk, 'mute stream', () => call(ot.forceMuteStream.bind(ot), people, streamId), () => ({ value: streamId }));
    // OpenTok Node documents the option misspelled; it forwards it verbatim.
    await expectOk(sdk, 'mute all', () => call(ot.forceMuteAll.bind(ot), people, { excudedStreamIds: [streamId] }));
    await expectOk(sdk, 'disable mute all', () => call(ot.disableForceMute.bind(ot), people));
  }
  await expectOk(sdk, 'play dtmf', () => call(ot.playDTMF.bind(ot), people, null, '1p2#'));
  await expectError(sdk, 'force disconnect unknown', NOT_FOUND, () => call(ot.forceDisconnect.bind(ot), people, 'ffffffff-0000-4000-8000-000000000000'));
  await expectOk(sdk, 'force disconnect', () => call(ot.forceDisconnect.bind(ot), people, toDisconnect), () => ({ value: toDisconnect }));

  const archive = await expectOk(sdk, 'archive start', () => call(ot.startArchive.bind(ot), people, { name: sdk }),
    (a) => ({ value: a.id }));
  if (archive) {
    await expectOk(sdk, 'archive get', async () => {
      const a = await call(ot.getArchive.bind(ot), archive.id);
      check(a.id === archive.id && a.status === 'started', `got archive ${a.id} status ${a.status}`);
      return a;
    });
    await expectOk(sdk, 'archive stop', () => call(ot.stopArchive.bind(ot), archive.id), (a) => ({ value: a.status }));
    await expectOk(sdk, 'archive list', async () => {
      const [items, total] = await callAll(ot.listArchives.bind(ot), { sessionId: people });
      check(items.some((a) => a.id === archive.id), `archive ${archive.id} not in the list (total ${total})`);
      return items;
    }, (items) => ({ value: String(items.length) }));
  }
  if (relayed) {
    await expectError(sdk, 'archive start relayed', CONFLICT, () => call(ot.startArchive.bind(ot), relayed.sessionId, {}));
  }

  const broadcast = await expectOk(sdk, 'broadcast start', () => call(ot.startBroadcast.bind(ot), people, {
    outputs: { hls: { lowLatency: true } }, resolution: '1280x720',
  }), (b) => ({ value: b.id }));
  if (broadcast) {
    await expectOk(sdk, 'broadcast get', async () => {
      const b = await call(ot.getBroadcast.bind(ot), broadcast.id);
      check(b.id === broadcast.id && b.status === 'started', `got broadcast ${b.id} status ${b.status}`);
      return b;
    });
    await expectOk(sdk, 'broadcast list', async () => {
      const [items] = await callAll(ot.listBroadcasts.bind(ot), { sessionId: people });
      check(items.some((b) => b.id === broadcast.id), `broadcast ${broadcast.id} not in the list`);
      return items;
    }, (items) => ({ value: String(items.length) }));
    await expectOk(sdk, 'broadcast stop', () => call(ot.stopBroadcast.bind(ot), broadcast.id), (b) => ({ value: b.status }));
  }

  const token = ot.generateToken(people, { role: 'moderator' });
  await expectOk(sdk, 'sip dial', async () => {
    const call_ = await call(ot.dial.bind(ot), people, token, 'sip:user@sip.example.com', { from: 'gavel@example.com', headers: { 'X-Test': '1' } });
    check(call_.id && call_.connectionId, `dial answered ${JSON.stringify(call_)}`);
    return call_;
  }, (c) => ({ value: c.connectionId }));
  await expectOk(sdk, 'audio connector', async () => {
    const ws = await call(ot.websocketConnect.bind(ot), people, token, 'wss://ws.example.com/audio', { headers: { a: 'b' } });
    check(ws.id && ws.connectionId, `connect answered ${JSON.stringify(ws)}`);
    return ws;
  }, (ws) => ({ value: ws.connectionId }));
  const render = await expectOk(sdk, 'render start', () => call(ot.startRender.bind(ot), {
    sessionId: people, token, url: 'https://app.example.com/composer',
  }), (r) => ({ value: r.id }));
  if (render) {
    await expectOk(sdk, 'render get', () => call(ot.getRender.bind(ot), render.id), (r) => ({ value: r.status }));
    await expectOk(sdk, 'render stop', () => call(ot.stopRender.bind(ot), render.id));
  }
  const captions = await expectOk(sdk, 'captions start', () => call(ot.startCaptions.bind(ot), people, token, { languageCode: 'en-US' }),
    (id) => ({ value: id }));
  if (captions) {
    await expectOk(sdk, 'captions stop', () => call(ot.stopCaptions.bind(ot), captions));
  }
}

// runVonage drives @vonage/video with the application's credentials.
async function runVonage(sdk, vg, people, toDisconnect) {
  const routed = await expectOk(sdk, 'session create routed', () => vg.createSession({ mediaMode: 'disabled' }),
    (s) => ({ value: s.sessionId }));
  const relayed = await expectOk(sdk, 'session create relayed', () => vg.createSession({ mediaMode: 'enabled' }),
    (s) => ({ value: s.sessionId }));
  await expectOk(sdk, 'session create defaults', () => vg.createSession(), (s) => ({ value: s.sessionId }));

  if (routed) {
    const sid = routed.sessionId;
    await expectOk(sdk, 'token jwt', () => vg.generateClientToken(sid), (t) => ({ session: sid, token: t, role: 'publisher' }));
    await expectOk(sdk, 'token jwt moderator', () => vg.generateClientToken(sid, {
      role: 'moderator', data: 'name=sdk', initialLayoutClassList: ['focus', 'full'],
    }), (t) => ({ session: sid, token: t, role: 'moderator' }));
    await expectError(sdk, 'signal nobody connected', NOT_FOUND, () => vg.sendSignal({ type: 'chat', data: 'hello' }, sid));
  }

  await expectOk(sdk, 'signal all', () => vg.sendSignal({ type: 'sdk', data: sdk }, people));
  await expectOk(sdk, 'signal one', () => vg.sendSignal({ type: 'sdk-one', data: sdk }, people, toDisconnect));
  const streams = await expectOk(sdk, 'stream list', async () => {
    const list = await vg.getStreamInfo(people);
    check(list && Array.isArray(list.items) && list.items.length > 0, `expected at least one stream, got ${JSON.stringify(list)}`);
    return list.items;
  }, (l) => ({ value: l.map((x) => x.id).join(',') }));
  const streamId = streams && streams[0].id;
  if (streamId) {
    await expectOk(sdk, 'stream get', async () => {
      const st = await vg.getStreamInfo(people, streamId);
      check(st.id === streamId, `got stream ${st.id}`);
      return st;
    }, (st) => ({ value: st.videoType }));
    await expectOk(sdk, 'stream layout classes', () => vg.setStreamClassLists(people, [{ id: streamId, layoutClassList: ['focus'] }]));
    await expectOk(sdk, 'mute stream', () => vg.muteStream(people, streamId), () => ({ value: streamId }));
    await expectOk(sdk, 'mute all', () => vg.forceMuteAll(people, [streamId]));
    await expectOk(sdk, 'disable mute all', () => vg.disableForceMute(people));
  }
  await expectOk(sdk, 'play dtmf', () => vg.playDTMF(people, '1p2#'));
  await expectError(sdk, 'force disconnect unknown', NOT_FOUND, () => vg.disconnectClient(people, 'ffffffff-0000-4000-8000-000000000000'));
  await expectOk(sdk, 'force disconnect', () => vg.disconnectClient(people, toDisconnect), () => ({ value: toDisconnect }));

  const archive = await expectOk(sdk, 'archive start', () => vg.startArchive(people, { name: sdk }), (a) => ({ value: a.id }));
  if (archive) {
    await expectOk(sdk, 'archive get', async () => {
      const a = await vg.getArchive(archive.id);
      check(a.id === archive.id && a.status === 'started', `got archive ${a.id} status ${a.status}`);
      return a;
    });
    await expectOk(sdk, 'archive stop', () => vg.stopArchive(archive.id), (a) => ({ value: a && a.status }));
    await expectOk(sdk, 'archive list', async () => {
      const list = await vg.searchArchives({ sessionId: people });
      check(list && list.items.some((a) => a.id === archive.id), `archive ${archive.id} not in the list`);
      return list.items;
    }, (items) => ({ value: String(items.length) }));
  }
  if (relayed) {
    await expectError(sdk, 'archive start relayed', CONFLICT, () => vg.startArchive(relayed.sessionId));
  }

  const broadcast = await expectOk(sdk, 'broadcast start', () => vg.startBroadcast(people, {
    outputs: { hls: { lowLatency: true } }, resolution: '1280x720',
  }), (b) => ({ value: b.id }));
  if (broadcast) {
    await expectOk(sdk, 'broadcast get', async () => {
      const b = await vg.getBroadcast(broadcast.id);
      check(b.id === broadcast.id && b.status === 'started', `got broadcast ${b.id} status ${b.status}`);
      return b;
    });
    await expectOk(sdk, 'broadcast list', async () => {
      const list = await vg.searchBroadcasts({ sessionId: people });
      check(list && list.items.some((b) => b.id === broadcast.id), `broadcast ${broadcast.id} not in the list`);
      return list.items;
    }, (items) => ({ value: String(items.length) }));
    await expectOk(sdk, 'broadcast stop', () => vg.stopBroadcast(broadcast.id), (b) => ({ value: b && b.status }));
  }

  const token = vg.generateClientToken(people, { role: 'moderator' });
  await expectOk(sdk, 'sip dial', async () => {
    const c = await vg.initiateSIPCall(people, {
      token, sip: { uri: 'sip:user@sip.example.com', from: 'gavel@example.com', headers: { 'X-Test': '1' } },
    });
    check(c.id && c.connectionId, `dial answered ${JSON.stringify(c)}`);
    return c;
  }, (c) => ({ value: c.connectionId }));
  await expectOk(sdk, 'audio connector', async () => {
    const ws = await vg.connectToWebsocket(people, token, { uri: 'wss://ws.example.com/audio', headers: { a: 'b' } });
    check(ws.id && ws.connectionId, `connect answered ${JSON.stringify(ws)}`);
    return ws;
  }, (ws) => ({ value: ws.connectionId }));
  const render = await expectOk(sdk, 'render start', () => vg.startExperienceComposerRender(people, token, {
    url: 'https://app.example.com/composer', maxDuration: 1800, resolution: '1280x720',
  }), (r) => ({ value: r.id }));
  if (render) {
    await expectOk(sdk, 'render get', () => vg.getExperienceComposerRender(render.id), (r) => ({ value: r.status }));
    await expectOk(sdk, 'render stop', () => vg.stopExperienceComposerRender(render.id));
  }
  const captions = await expectOk(sdk, 'captions start', () => vg.enableCaptions(people, token, { languageCode: 'en-US' }),
    (r) => ({ value: r.captionsId }));
  if (captions) {
    await expectOk(sdk, 'captions stop', () => vg.disableCaptions(captions.captionsId));
  }
}

const keyPEM = readFileSync(env('VG_KEY_FILE'), 'utf8');

await runOpenTok('opentok', new OpenTok(env('OT_KEY'), env('OT_SECRET'), { apiUrl: OT_URL }),
  env('SESSION_ID_WITH_PEOPLE'), env('CONNECTION_ID_TO_DISCONNECT'), false);
await runVonage('@vonage/video', new Video({ applicationId: env('VG_APP_ID'), privateKey: env('VG_KEY_FILE') }, { videoHost: OT_URL }),
  env('VG_SESSION_ID_WITH_PEOPLE'), env('VG_CONNECTION_ID_TO_DISCONNECT'));
// OpenTok Node switches to the unified environment when given an application
// ID and a PKCS#8 PEM as the secret (notes §1).
await runOpenTok('opentok-vonage', new OpenTok(env('VG_APP_ID'), keyPEM, { apiUrl: OT_URL }),
  env('OTVG_SESSION_ID_WITH_PEOPLE'), env('OTVG_CONNECTION_ID_TO_DISCONNECT'), true);

process.exit(failed > 0 ? 1 : 0);
