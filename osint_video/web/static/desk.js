// osint-video web desk: our own script, no framework, nothing fetched from elsewhere.
"use strict";

// The board: poll a few bytes every second; when the desk changed, swap in fresh cards.
function liveBoard(box) {
  let digest = box.dataset.digest;
  let busy = false;
  async function tick() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const state = await fetch(box.dataset.state, {credentials: "same-origin", cache: "no-store"});
      if (state.status === 401) { window.location.reload(); return; }
      const now = (await state.json()).digest;
      if (now !== digest) {
        const cards = await fetch(box.dataset.cards, {credentials: "same-origin", cache: "no-store"});
        if (cards.ok) {
          box.innerHTML = await cards.text();
          digest = now;
          box.dataset.digest = now;
        }
      }
    } catch (e) {
      // the server restarting: try again on the next tick
    } finally {
      busy = false;
    }
  }
  setInterval(tick, 1000);
}

// Click a keyframe (or a line of on-screen text) to seek the clip's player.
function seekers(player) {
  document.querySelectorAll("button.seek").forEach((b) => {
    b.addEventListener("click", () => {
      player.currentTime = parseFloat(b.dataset.t);
      player.scrollIntoView({block: "nearest"});
    });
  });
}

// Two players cued to a matched range, played in step by one control.
function playBoth(button) {
  const pair = button.closest(".pair");
  const there = pair.querySelector("video.there");
  const here = pair.querySelector("video.here");
  const t0 = parseFloat(button.dataset.there), t1 = parseFloat(button.dataset.thereEnd);
  const h0 = parseFloat(button.dataset.here), h1 = parseFloat(button.dataset.hereEnd);
  if (pair.stepper) { pair.stepper(); }
  there.pause(); here.pause();
  there.currentTime = t0; here.currentTime = h0;
  function step() {
    // keep "here" on the same footage as "there" (the offset of the range), stop at its end
    const want = h0 + (there.currentTime - t0);
    if (Math.abs(here.currentTime - want) > 0.15) here.currentTime = want;
    if (there.currentTime >= t1 || here.currentTime >= h1) { there.pause(); here.pause(); stop(); }
  }
  function stop() { there.removeEventListener("timeupdate", step); pair.stepper = null; }
  there.addEventListener("timeupdate", step);
  pair.stepper = stop;
  pair.dataset.playing = `${t0}-${t1}~${h0}-${h1}`;
  Promise.all([there.play(), here.play()]).catch(() => {});
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) liveBoard(live);
  const player = document.getElementById("player");
  if (player) seekers(player);
  document.querySelectorAll("button.play-both").forEach((b) => {
    b.addEventListener("click", () => playBoth(b));
  });
});
