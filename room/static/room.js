// The writers' room page: details on demand, review answers, edits with their diff, live progress (SSE).
// Shipped with the package; no other script is loaded.
(() => {
  "use strict";
  const top = document.getElementById("top");
  if (!top) return;
  const key = document.querySelector('meta[name="room-key"]').content;
  const run = "run=" + encodeURIComponent(top.dataset.run);
  const $ = (id) => document.getElementById(id);

  function notice(text, bad) {
    const box = $("notice");
    box.textContent = text;
    box.className = bad ? "notice bad" : "notice";
    box.hidden = !text;
  }

  async function post(kind, body) {
    const reply = await fetch("/api/" + kind + "?" + run, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Room-Key": key },
      body: JSON.stringify(body || {}),
    });
    const data = await reply.json().catch(() => ({ error: reply.status + " " + reply.statusText }));
    if (!reply.ok || data.error) {
      notice(data.error || reply.statusText, true);
      throw new Error(data.error);
    }
    return data;
  }

  function diffView(diff) {
    const pre = document.createElement("pre");
    pre.className = "diff";
    for (const line of diff.split("\n")) {
      const span = document.createElement("span");
      span.textContent = line + "\n";
      if (line.startsWith("@@")) span.className = "hunk";
      else if (line.startsWith("+") && !line.startsWith("+++")) span.className = "add";
      else if (line.startsWith("-") && !line.startsWith("---")) span.className = "del";
      pre.appendChild(span);
    }
    return pre;
  }

  function showLastDiff() {
    const saved = sessionStorage.getItem("room-diff:" + top.dataset.run);
    if (!saved) return;
    const { title, diff } = JSON.parse(saved);
    const box = $("last-diff");
    box.replaceChildren();
    const head = document.createElement("h3");
    head.textContent = title;
    box.append(head, diffView(diff));
    box.className = "card diff-card";
  }

  function started(what) {
    $("run-state").textContent = "running: " + what;
    top.dataset.job = "running";
    document.body.classList.add("busy");
    for (const b of document.querySelectorAll("#review button, .save-stage, .restore, #resume")) b.disabled = true;
  }

  function edited(data, title) {
    if (data.unchanged) {
      notice("unchanged: nothing to re-run");
      return;
    }
    sessionStorage.setItem("room-diff:" + top.dataset.run, JSON.stringify({ title, diff: data.diff }));
    showLastDiff();
    const stale = Object.entries(data.stale).map(([s, w]) => "scene " + s + " (" + w + ")").join(", ");
    notice("edit #" + data.edit.id + " saved; re-running " + stale);
    started(data.job);
  }

  async function toggleDetails(number) {
    const box = $("details-" + number);
    if (!box.hidden) {
      box.hidden = true;
      return;
    }
    const reply = await fetch("/scene?" + run + "&n=" + number);
    box.innerHTML = await reply.text();
    box.hidden = false;
  }

  document.addEventListener("click", async (event) => {
    const target = event.target.closest("button");
    if (!target || target.disabled) return;
    try {
      if (target.classList.contains("details-toggle")) {
        await toggleDetails(target.dataset.scene);
      } else if (target.classList.contains("save-stage")) {
        const { scene, stage } = target.dataset;
        const text = document.querySelector(`textarea.edit-text[data-scene="${scene}"][data-stage="${stage}"]`).value;
        edited(await post("edit", { scene: Number(scene), stage, text }), `Edit of the ${stage} of scene ${scene}`);
      } else if (target.classList.contains("restore")) {
        const version = target.dataset.version;
        edited(await post("restore", { version }), `Restore of version ${version}`);
      } else if (target.id === "approve") {
        started((await post("review", { action: "approve" })).job);
      } else if (target.id === "save-review-edit") {
        started((await post("review", { action: "edit", value: $("review-text").value })).job);
      } else if (target.id === "reject") {
        const stage = $("reject-stage");
        const body = { action: "reject", note: $("reject-note").value, stage: stage ? stage.value : undefined };
        started((await post("review", body)).job);
      } else if (target.id === "resume") {
        started((await post("resume")).job);
      }
    } catch (error) {
      if (!$("notice").textContent) notice(String(error), true);
    }
  });

  showLastDiff();
  if (top.dataset.job === "running") document.body.classList.add("busy");

  let after = Number(top.dataset.after || 0);
  const source = new EventSource("/events?" + run + "&after=" + after);
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "node") {
      let line = (event.scene ? "scene " + event.scene + ": " : "") + event.node + " done";
      if (event.decision) line += " → " + event.decision + (event.route ? " (" + event.route + ")" : "");
      $("progress").textContent = line;
    } else if (event.type === "job") {
      if (event.state === "running") started(event.what);
      else {
        source.close();
        location.reload();
      }
    }
  };
})();
