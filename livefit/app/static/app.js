// livefit live coach page: camera or video file -> 16 fps JPEG frames over a WebSocket -> the
// coach's events back (captions, exercise, timeline, stats). Protocol: livefit/app/session.py.
"use strict";

const FPS = 16;                 // the coach's frame rate
let maxHeight = 240;           // frames are downscaled to at most this many rows before sending
                               // (the server's 'ready' says how many its coach needs)
const JPEG_QUALITY = 0.7;
const MAX_BUFFERED = 512 * 1024; // skip a frame while this much is still unsent (slow network)
const CAPTION_SECONDS = 5;

const $ = (id) => document.getElementById(id);
const video = $("video"), canvas = $("canvas"), ctx = canvas.getContext("2d");

let ws = null;            // the session's socket
let stream = null;        // camera MediaStream
let timer = null;         // capture interval
let encoding = false;     // a toBlob is in flight
let sent = 0;
let captionTimer = null;
let ending = false;       // we asked the server to stop
let fixed = false;        // a plan or a chosen exercise says what is coached (not the head)
let skeleton = null;      // the bones to draw between pose points ('ready'; null: no landmarks)
let poseTimer = null;     // clears a skeleton no newer frame replaced
const POSE_HOLD_MS = 600;

// -- page state -------------------------------------------------------------------------------
function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = "status " + (kind || "idle");
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function showCaption(text, rule) {
  const el = $("caption");
  el.textContent = text;
  el.classList.toggle("rule", !!rule); // a rule said it (the body is out of view), not the model
  el.classList.add("show");
  clearTimeout(captionTimer);
  captionTimer = setTimeout(() => el.classList.remove("show"), CAPTION_SECONDS * 1000);
}

function showExercise(name, resting) {
  const el = $("exercise");
  el.hidden = !name;
  el.textContent = name;
  el.classList.toggle("resting", !!resting);
}

function showReps(count) {
  const el = $("reps");
  el.hidden = count === null;
  el.textContent = count === null ? "" : `${count} ${count === 1 ? "rep" : "reps"}`;
}

// The skeleton the coach sees, over the video where the video is drawn (object-fit: contain
// leaves bars), mirrored as the video is. Points are [x, y, visibility] in fractions of the frame.
function drawPose(points) {
  const el = $("skeleton");
  const box = video.getBoundingClientRect(), screen = $("screen").getBoundingClientRect();
  if (!video.videoWidth || !box.width) return;
  const scale = Math.min(box.width / video.videoWidth, box.height / video.videoHeight);
  const w = video.videoWidth * scale, h = video.videoHeight * scale;
  el.style.left = `${box.left - screen.left + (box.width - w) / 2}px`;
  el.style.top = `${box.top - screen.top + (box.height - h) / 2}px`;
  el.style.width = `${w}px`;
  el.style.height = `${h}px`;
  const ratio = window.devicePixelRatio || 1;
  el.width = Math.round(w * ratio);
  el.height = Math.round(h * ratio);
  el.classList.toggle("mirror", video.classList.contains("mirror"));
  const g = el.getContext("2d");
  g.clearRect(0, 0, el.width, el.height);
  const seen = (p) => p && p[2] >= 0.5;
  g.strokeStyle = g.fillStyle = "rgba(80, 220, 255, 0.9)";
  g.lineWidth = 3 * ratio;
  for (const [a, b] of skeleton) {
    if (!seen(points[a]) || !seen(points[b])) continue;
    g.beginPath();
    g.moveTo(points[a][0] * el.width, points[a][1] * el.height);
    g.lineTo(points[b][0] * el.width, points[b][1] * el.height);
    g.stroke();
  }
  for (const i of new Set(skeleton.flat())) {
    if (!seen(points[i])) continue;
    g.beginPath();
    g.arc(points[i][0] * el.width, points[i][1] * el.height, 4 * ratio, 0, 2 * Math.PI);
    g.fill();
  }
  el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1); // for the browser tests
  clearTimeout(poseTimer);
  poseTimer = setTimeout(clearPose, POSE_HOLD_MS);
}

function clearPose() {
  const el = $("skeleton");
  el.getContext("2d").clearRect(0, 0, el.width, el.height);
}

function addFeedback(event) {
  const list = $("timeline");
  const empty = list.querySelector(".empty");
  if (empty) empty.remove();
  const li = document.createElement("li");
  li.className = event.kind === "rule" ? "feedback rule" : "feedback";
  const time = document.createElement("time");
  time.textContent = clock(event.time);
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = event.exercise ? `· ${event.exercise}` : "";
  const text = document.createElement("p");
  text.textContent = event.text;
  li.append(time, what, text);
  list.prepend(li);
}

function speak(text) {
  if (!$("speak").checked || !("speechSynthesis" in window)) return;
  window.speechSynthesis.cancel(); // the newest feedback wins
  window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
}

function showStats(s) {
  $("st-in").textContent = s.frames_in ?? 0;
  $("st-dropped").textContent = s.frames_dropped_total ?? 0;
  $("st-steps").textContent = s.steps ?? 0;
  if (s.real_time_factor) $("st-rtf").textContent = s.real_time_factor.toFixed(3);
  const lat = s.step_latency_ms || [];
  if (lat.length) {
    const sorted = [...lat].sort((a, b) => a - b);
    $("st-latency").textContent = `${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms`;
  }
}

// After Stop: per exercise, the time coached, the reps counted (when a counter ran), the
// corrections and other lines said, and a timeline of the coached spans.
function showSummary(m) {
  $("summary-table").replaceChildren(summaryTable(m.exercises), timelineBar(m));
  const note = $("summary-note");
  note.replaceChildren();
  if (m.history_id !== null && m.history_id !== undefined) {
    const link = el("a", "History");
    link.href = "/history";
    note.append(`${minutes(m.seconds)} of video, saved as session ${m.history_id}: see `, link);
  } else {
    note.textContent = `${minutes(m.seconds)} of video (not saved: this server keeps no history)`;
  }
  $("summary").hidden = false;
}

// Keep the last frame on screen after Stop (a stopped camera or a paused file goes black or
// stays mid-frame; the still shows what the coach last saw), and clear the live overlays.
function freezeFrame() {
  const still = $("still");
  if (video.readyState >= 2 && video.videoWidth) {
    still.width = video.videoWidth;
    still.height = video.videoHeight;
    still.getContext("2d").drawImage(video, 0, 0);
    still.classList.toggle("mirror", video.classList.contains("mirror"));
    still.hidden = false;
  }
  clearTimeout(captionTimer);
  $("caption").classList.remove("show");
  showExercise("", false);
  clearTimeout(poseTimer);
  clearPose();
}

// -- messages from the server -----------------------------------------------------------------
function onMessage(raw) {
  const m = JSON.parse(raw.data);
  if (m.type === "ready") {
    if (m.frame_rows) maxHeight = m.frame_rows;
    skeleton = m.skeleton || null;
    setStatus("live", "live");
    startCapture();
  } else if (m.type === "pose") {
    if (skeleton) drawPose(m.points);
  } else if (m.type === "event") {
    if (m.capture_ms !== undefined) {
      $("st-rtt").textContent = `${(performance.now() - m.capture_ms).toFixed(0)} ms`;
    }
    if (ending) { // after Stop: the closing events go to the timeline, not on the frozen frame
      if (m.kind === "feedback" || m.kind === "rule") addFeedback(m);
    } else if (m.kind === "feedback" || m.kind === "rule") {
      showCaption(m.text, m.kind === "rule");
      addFeedback(m);
      speak(m.text);
    } else if (m.kind === "rep") {
      showReps(Number(m.text));
    } else if (m.kind === "exercise" && !fixed) { // a plan or a chosen exercise names it
      const resting = m.text === "general"; // the coach's label for "no exercise"
      showExercise(resting ? "resting" : m.text, resting);
    } else if (m.kind === "session" && m.text) {
      showExercise(m.text, false); // a session began: the plan's (or recognised) exercise
      showReps(null); // its count starts afresh (shown from its first rep)
    } else if (m.kind === "session" && !m.text) {
      $("exercise").classList.add("resting");
    }
  } else if (m.type === "summary") {
    showSummary(m);
  } else if (m.type === "stats" || m.type === "end") {
    showStats(m);
  } else if (m.type === "error") {
    showError(m.message);
    if (m.fatal) setStatus("stopped", "error");
  }
}

// -- sending frames ---------------------------------------------------------------------------
function sendFrame() {
  if (!ws || ws.readyState !== WebSocket.OPEN || encoding) return;
  if (video.readyState < 2 || !video.videoWidth || video.paused) return;
  if (ws.bufferedAmount > MAX_BUFFERED) return; // the network is behind: skip this frame
  const scale = Math.min(1, maxHeight / video.videoHeight);
  const w = Math.round(video.videoWidth * scale), h = Math.round(video.videoHeight * scale);
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.drawImage(video, 0, 0, w, h);
  const captured = performance.now();
  encoding = true;
  canvas.toBlob(async (blob) => {
    try {
      if (!blob || !ws || ws.readyState !== WebSocket.OPEN) return;
      const jpeg = await blob.arrayBuffer();
      const message = new Uint8Array(8 + jpeg.byteLength);
      new DataView(message.buffer).setFloat64(0, captured, true); // capture time, ms, LE
      message.set(new Uint8Array(jpeg), 8);
      ws.send(message);
      $("st-sent").textContent = ++sent;
    } finally {
      encoding = false;
    }
  }, "image/jpeg", JPEG_QUALITY);
}

function startCapture() {
  clearInterval(timer);
  timer = setInterval(sendFrame, 1000 / FPS);
}

// -- sessions ---------------------------------------------------------------------------------
function openSession() {
  dropSocket();
  showError("");
  $("still").hidden = true;
  $("summary").hidden = true;
  sent = 0;
  ending = false;
  setStatus("connecting", "idle");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    const plan = $("plan-choice").value || null;
    const exercise = plan ? null : $("exercise-choice").value || null;
    fixed = !!(plan || exercise);
    ws.send(JSON.stringify({ type: "start", exercise, plan }));
  };
  ws.onmessage = onMessage;
  ws.onclose = (e) => {
    clearInterval(timer);
    if (e.code === 1000 || ending) setStatus("ended", "idle");
    else {
      setStatus("disconnected", "error");
      if (!$("error").textContent) showError(`connection closed (${e.code}) ${e.reason || ""}`);
    }
    ws = null;
    $("stop").disabled = true;
  };
  $("stop").disabled = false;
}

function dropSocket() {
  // Leave without waiting for the last events (a new source replaces the session).
  clearInterval(timer);
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
}

function stopSession() {
  // Ask the server to coach the frames it has, send the closing events and close.
  clearInterval(timer);
  freezeFrame();
  if (ws && ws.readyState === WebSocket.OPEN) {
    ending = true;
    ws.send(JSON.stringify({ type: "stop" }));
  }
  stopCamera();
  $("stop").disabled = true;
}

function stopCamera() {
  if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
}

async function startCamera() {
  try {
    const media = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
    });
    dropSocket();
    stopCamera();
    stream = media;
    video.onended = null;
    video.removeAttribute("src");
    video.srcObject = stream;
    video.classList.add("mirror");
    await video.play();
    $("placeholder").hidden = true;
    openSession();
  } catch (err) {
    showError(`camera unavailable: ${err.message || err}`);
  }
}

async function startFile(file) {
  if (!file) return;
  dropSocket();
  stopCamera();
  video.srcObject = null;
  video.classList.remove("mirror");
  video.src = URL.createObjectURL(file);
  video.onended = () => stopSession();
  try {
    await video.play();
  } catch (err) {
    showError(`cannot play ${file.name}: ${err.message || err}`);
    return;
  }
  $("placeholder").hidden = true;
  openSession();
}

async function loadExercises() {
  try {
    const health = await (await fetch("/health")).json();
    const select = $("exercise-choice");
    for (const name of health.model.exercises.filter((e) => e !== "general")) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      select.append(option);
    }
  } catch (err) {
    showError(`server unreachable: ${err.message || err}`);
  }
}

// The shipped workout plans: the coach follows one from the first frame (one exercise after
// another, with rests), as the demo follows a workout's plan.
async function loadPlans() {
  try {
    const answer = await (await fetch("/api/plans")).json();
    const select = $("plan-choice");
    for (const plan of answer.plans) {
      const option = document.createElement("option");
      option.value = plan.name;
      const names = plan.steps.filter((s) => s.exercise).length;
      option.textContent = `${plan.title} (${names} exercises, ${Math.round(plan.seconds / 60)} min)`;
      select.append(option);
    }
  } catch (err) {
    showError(`plans unavailable: ${err.message || err}`);
  }
}

$("plan-choice").addEventListener("change", () => {
  $("exercise-choice").disabled = !!$("plan-choice").value; // a plan names the exercises
});
loadPlans();
$("camera").addEventListener("click", startCamera);
$("file").addEventListener("change", (e) => startFile(e.target.files[0]));
$("stop").addEventListener("click", () => { stopSession(); video.pause(); });
loadExercises();
