// The page talks to POST /v1/answer. Every piece of text from the user or the model is inserted with
// textContent / text nodes, never as HTML, so a passage holding markup is shown, not run.
"use strict";

const $ = (id) => document.getElementById(id);

// URLs are relative, so the page works under a reverse proxy's sub-path (korqa serve --root-path /qa).
// A server started with --api-key answers 401: ask for the key once, keep it for this tab only.
const KEY = "korqa-api-key";

async function call(url, options = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const key = sessionStorage.getItem(KEY);
    const headers = { ...(options.headers || {}), ...(key ? { Authorization: `Bearer ${key}` } : {}) };
    const response = await fetch(url, { ...options, headers });
    if (response.status !== 401 || attempt > 0) return response;
    const entered = window.prompt("이 서버는 API 키가 필요합니다. 키를 입력하세요 (API key):");
    if (!entered) return response;
    sessionStorage.setItem(KEY, entered.trim());
  }
}

function show(result, context) {
  const best = result.answers[0];
  $("result").hidden = false;
  const passage = $("passage");
  passage.replaceChildren();
  const others = $("others");
  others.replaceChildren();
  const guess = $("guess");
  guess.hidden = true;
  if (!best) {
    // Withheld: the passage does not seem to hold the answer. The best span is shown dimmed, as a guess only.
    $("answer").textContent = "지문에서 답을 찾지 못했습니다";
    $("score").textContent = `무응답 확률 (no answer) ${(result.no_answer_score * 100).toFixed(1)}%`;
    passage.append(document.createTextNode(context));
    if (result.best_guess) {
      guess.hidden = false;
      guess.textContent = `추측 (a guess, not an answer): ${result.best_guess.text} ` +
        `(${(result.best_guess.score * 100).toFixed(1)}%)`;
    }
    return;
  }
  $("answer").textContent = best.text;
  $("score").textContent = `확률 (score) ${(best.score * 100).toFixed(1)}% · 위치 ${best.start}–${best.end}`;
  // The API's offsets count code points (Python's str); a JS string counts UTF-16 units, so an emoji or a rare
  // CJK character (outside the BMP) before the answer would shift a plain slice. Slice by code points instead.
  const chars = Array.from(context);
  const mark = document.createElement("mark");
  mark.textContent = chars.slice(best.start, best.end).join("");
  passage.append(document.createTextNode(chars.slice(0, best.start).join("")), mark,
                 document.createTextNode(chars.slice(best.end).join("")));
  const box = mark.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) mark.scrollIntoView({ block: "center" });
  for (const a of result.answers.slice(1)) {
    const li = document.createElement("li");
    li.textContent = `${a.text} (${(a.score * 100).toFixed(1)}%)`;
    others.append(li);
  }
  if (result.answers.length < 2) {
    const li = document.createElement("li");
    li.textContent = "없음 (none)";
    others.append(li);
  }
}

// Error replies in words a reader understands (no internal setting names); the detail stays in the console.
const LIMITS = {
  max_context_chars: "지문이 너무 깁니다. 더 짧게 나누어 물어보세요",
  max_question_chars: "질문이 너무 깁니다",
  max_body_bytes: "보낸 내용이 너무 큽니다",
  max_request_windows: "지문이 너무 길어 한 번에 답할 수 없습니다",
  max_contexts: "지문이 너무 많습니다",
  max_top_k: "요청한 후보 수가 너무 많습니다",
};
const ERRORS = {
  busy: "서버가 바쁩니다. 잠시 후 다시 시도하세요",
  shutting_down: "서버가 재시작 중입니다. 잠시 후 다시 시도하세요",
  timeout: "답을 찾는 데 너무 오래 걸렸습니다. 지문을 줄여 다시 시도하세요",
  unauthorized: "API 키가 맞지 않습니다",
  invalid_input: "질문과 지문을 확인하세요",
  invalid_request: "질문과 지문을 확인하세요",
};

function explain(status, body) {
  if (body && body.limit && LIMITS[body.limit]) return LIMITS[body.limit];
  if (body && ERRORS[body.error]) return ERRORS[body.error];
  return `서버 오류가 났습니다 (HTTP ${status})`;
}

function clearResult() {
  $("result").hidden = true;
  $("result").classList.remove("stale");
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value;
  const context = $("context").value;
  const status = $("status");
  if (!question.trim() || !context.trim()) {
    clearResult();
    status.textContent = "질문과 지문을 모두 입력하세요 (enter a question and a passage)";
    return;
  }
  // The previous answer is dimmed while the new one loads, so it never looks like the answer to this question.
  $("result").classList.add("stale");
  const started = performance.now();
  const tick = () => { status.textContent = `찾는 중… ${((performance.now() - started) / 1000).toFixed(1)} s`; };
  tick();
  const timer = setInterval(tick, 100);
  $("spinner").hidden = false;
  $("submit").disabled = true;
  try {
    const response = await call("v1/answer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, context, top_k: 5 }),
    });
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("application/json")) {  // a proxy's error page, not korqa
      clearResult();
      status.textContent = `서버에 연결할 수 없거나 서버가 오류 페이지를 보냈습니다 (HTTP ${response.status})`;
      return;
    }
    const body = await response.json();
    if (!response.ok) {
      clearResult();
      console.warn("korqa:", response.status, body);
      status.textContent = `오류: ${explain(response.status, body)}`;
      return;
    }
    show(body, context);
    $("result").classList.remove("stale");
    status.textContent = `${Math.round(body.timings.forward_ms + body.timings.tokenize_ms + body.timings.decode_ms)} ms`;
  } catch (err) {
    clearResult();
    status.textContent = `서버에 연결할 수 없습니다 (cannot reach the server)`;
    console.warn("korqa:", err);
  } finally {
    clearInterval(timer);
    $("spinner").hidden = true;
    $("submit").disabled = false;
  }
}

let maxChars = null;  // the server's max_context_chars, from /v1/model

function count() {
  const n = Array.from($("context").value).length;
  const counter = $("counter");
  counter.textContent = maxChars ? `${n.toLocaleString()} / ${maxChars.toLocaleString()}자` : `${n.toLocaleString()}자`;
  counter.classList.toggle("over", maxChars !== null && n > maxChars);
}

const EXAMPLE = {
  question: "훈민정음을 반포한 해는 언제인가?",
  context:
    "훈민정음은 조선의 제4대 왕 세종이 만든 문자이다. 세종은 1443년에 훈민정음을 창제하였고, " +
    "3년 뒤인 1446년에 이를 반포하였다. 오늘날 한국에서는 이 문자를 한글이라고 부르며, " +
    "반포를 기념하는 한글날은 10월 9일이다.",
};

$("ask").addEventListener("submit", ask);
$("example").addEventListener("click", () => {  // fills the form and asks at once
  $("question").value = EXAMPLE.question;
  $("context").value = EXAMPLE.context;
  count();
  $("ask").requestSubmit();
});
$("context").addEventListener("input", count);
call("v1/model").then((r) => r.json()).then((m) => {
  $("model").textContent = `모델 (model): ${m.name}`;
  maxChars = (m.limits && m.limits.max_context_chars) || null;
  count();
}).catch(() => {});
