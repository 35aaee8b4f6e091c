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

async function ask(event) {
  event.preventDefault();
  const question = $("question").value;
  const context = $("context").value;
  const status = $("status");
  if (!question.trim() || !context.trim()) {
    status.textContent = "질문과 지문을 모두 입력하세요 (enter a question and a passage)";
    return;
  }
  status.textContent = "찾는 중… (answering)";
  $("submit").disabled = true;
  try {
    const response = await call("v1/answer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, context, top_k: 5 }),
    });
    const body = await response.json();
    if (!response.ok) {
      status.textContent = `오류 (error ${response.status}): ${body.detail || ""}`;
      return;
    }
    show(body, context);
    status.textContent = `${Math.round(body.timings.forward_ms + body.timings.tokenize_ms + body.timings.decode_ms)} ms`;
  } catch (err) {
    status.textContent = `서버에 연결할 수 없습니다 (cannot reach the server): ${err}`;
  } finally {
    $("submit").disabled = false;
  }
}

const EXAMPLE = {
  question: "훈민정음을 반포한 해는 언제인가?",
  context:
    "훈민정음은 조선의 제4대 왕 세종이 만든 문자이다. 세종은 1443년에 훈민정음을 창제하였고, " +
    "3년 뒤인 1446년에 이를 반포하였다. 오늘날 한국에서는 이 문자를 한글이라고 부르며, " +
    "반포를 기념하는 한글날은 10월 9일이다.",
};

$("ask").addEventListener("submit", ask);
$("example").addEventListener("click", () => {
  $("question").value = EXAMPLE.question;
  $("context").value = EXAMPLE.context;
});
call("v1/model").then((r) => r.json()).then((m) => { $("model").textContent = `모델 (model): ${m.name}`; })
  .catch(() => {});
