// outlast dashboard: live refresh of marked regions, payloads loaded on demand,
// and the timeline and the history table pointing at each other. No framework;
// nothing here builds HTML from data (text goes in with textContent).
"use strict";
(function () {
  const body = document.body;

  function liveEnabled() {
    const box = document.getElementById("live");
    return body.dataset.live === "1" && (!box || box.checked);
  }

  function busy(region) {
    // Leave alone what a person is reading or typing in.
    return region.contains(document.activeElement) && document.activeElement !== body ||
      region.querySelector("details[open]") !== null;
  }

  async function refresh() {
    if (!liveEnabled() || document.hidden) return;
    let response;
    try {
      response = await fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    } catch (e) {
      return;
    }
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    document.querySelectorAll("[data-region][id]").forEach(function (region) {
      const next = fresh.getElementById(region.id);
      if (next && !busy(region)) region.replaceWith(document.importNode(next, true));
    });
    body.dataset.live = fresh.body.dataset.live || "0";
    restoreMarks();
  }

  const period = parseInt(body.dataset.refreshMs || "0", 10);
  if (period > 0) window.setInterval(refresh, period);

  // --- payloads on demand ------------------------------------------------------------
  document.addEventListener("click", async function (event) {
    const button = event.target.closest("button.load");
    if (!button) return;
    button.disabled = true;
    const response = await fetch(button.dataset.url, { credentials: "same-origin" });
    const pre = button.previousElementSibling;
    if (response.ok && pre) {
      pre.textContent = await response.text();
      button.remove();
    } else {
      button.textContent = "Could not load it (" + response.status + ")";
    }
  });

  // --- timeline <-> history ------------------------------------------------------------
  let marked = null;

  function mark(seqs) {
    marked = seqs;
    document.querySelectorAll(".hit").forEach(function (el) { el.classList.remove("hit"); });
    let first = null;
    seqs.forEach(function (seq) {
      document.querySelectorAll('tr[data-seq="' + seq + '"]').forEach(function (row) {
        row.classList.add("hit");
        first = first || row;
      });
      document.querySelectorAll('rect.bar[data-seq="' + seq + '"], rect.bar[data-end-seq="' + seq + '"], g.marker[data-seq="' + seq + '"]').forEach(function (bar) {
        bar.classList.add("hit");
      });
    });
    return first;
  }

  function restoreMarks() {
    if (marked) mark(marked);
  }

  document.addEventListener("click", function (event) {
    const bar = event.target.closest("rect.bar, g.marker");
    if (bar) {
      const seqs = [bar.dataset.seq];
      if (bar.dataset.endSeq) seqs.push(bar.dataset.endSeq);
      const row = mark(seqs);
      if (row) row.scrollIntoView({ block: "nearest" });
      const pick = document.getElementById("rerun-event");
      if (pick && bar.dataset.rerun) pick.value = bar.dataset.rerun;
      return;
    }
    const row = event.target.closest("tr[data-seq]");
    if (row && !event.target.closest("details, button, a")) mark([row.dataset.seq]);
  });

  // --- filters apply as they change -----------------------------------------------------
  document.addEventListener("change", function (event) {
    const select = event.target.closest("#status-filter, #history-filter select");
    if (select && select.form) select.form.requestSubmit();
  });
})();
