// The browser softphone: one JsSIP user agent registered over the PBX's SIP
// WebSocket listener with the credentials the API issues for this session.
import JsSIP from "jssip";

const mediaConstraints = { audio: true, video: false };
// No STUN or TURN: the PBX is ICE-lite with host candidates, and an empty list
// lets JsSIP's wait for the end of ICE gathering finish at once.
const pcConfig = { iceServers: [] };

/**
 * Phone wraps a JsSIP UA. The owner passes handlers:
 *  onState(text, registered)   registration state for the profile menu
 *  onIncoming(session, number) a call rings the browser
 *  onSession(session)          a call (either way) now exists; hook its events
 */
export class Phone {
  constructor(handlers) {
    this.h = handlers;
    this.ua = null;
    this.registered = false;
  }

  /** start registers with creds from GET /api/me/sip. */
  start(creds) {
    this.stop();
    const socket = new JsSIP.WebSocketInterface(creds.ws_url);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: creds.uri,
      authorization_user: creds.username,
      password: creds.password,
      register: true,
      session_timers: false,
      // A closed tab cannot unregister: a short lifetime keeps its stale
      // contact from being rung (and counted against the contact limit) for long.
      register_expires: 120,
      user_agent: "Switchboard agent app",
    });
    this.ua = ua;
    const mine = (fn) => (...args) => { if (this.ua === ua) fn(...args); };
    ua.on("connecting", mine(() => this.h.onState("connecting…", false)));
    ua.on("disconnected", mine(() => { this.registered = false; this.h.onState("disconnected, retrying", false); }));
    ua.on("registered", mine(() => { this.registered = true; this.h.onState("ready", true); }));
    ua.on("unregistered", mine(() => { this.registered = false; this.h.onState("not registered", false); }));
    ua.on("registrationFailed", mine((e) => {
      this.registered = false;
      const why = e.response ? `${e.response.status_code} ${e.response.reason_phrase}` : e.cause;
      this.h.onState(`registration failed (${why})`, false);
    }));
    ua.on("newRTCSession", mine((e) => {
      const s = e.session;
      if (e.originator === "remote") {
        const id = s.remote_identity;
        this.h.onIncoming(s, (id && id.uri && id.uri.user) || (id && id.display_name) || "unknown");
      }
    }));
    ua.start();
  }

  /** stop unregisters and closes the socket; later events of the old UA are ignored. */
  stop() {
    const ua = this.ua;
    this.ua = null;
    this.registered = false;
    if (ua) {
      try { ua.stop(); } catch { /* already stopped */ }
    }
  }

  /** call dials target (an extension or a number) from the browser. */
  call(target) {
    if (!this.ua || !this.registered) throw new Error("the browser phone is not connected");
    return this.ua.call(target, { mediaConstraints, pcConfig, rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false } });
  }
}

/** answer picks up an incoming session with microphone audio. */
export function answer(session) {
  session.answer({ mediaConstraints, pcConfig });
}

/**
 * onRemoteStream calls fn with the remote MediaStream of session once its
 * peer connection has an incoming track.
 */
export function onRemoteStream(session, fn) {
  const hook = (pc) => {
    pc.addEventListener("track", (ev) => {
      fn(ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]));
    });
  };
  // An outgoing session has its connection before the caller sees it; an
  // incoming one gets it when answered.
  if (session.connection) hook(session.connection);
  else session.on("peerconnection", (e) => hook(e.peerconnection));
}

/** remoteStreamOf builds a stream from the receivers, for when no track event was seen. */
export function remoteStreamOf(session) {
  const pc = session.connection;
  if (!pc) return null;
  const tracks = pc.getReceivers().map((r) => r.track).filter((t) => t && t.readyState === "live");
  return tracks.length ? new MediaStream(tracks) : null;
}

/** sendDTMF sends one key as RFC 4733 telephone-events in the audio stream. */
export function sendDTMF(session, key) {
  session.sendDTMF(key, { transportType: "RFC2833" });
}
