// Camera scanning for the alumni card verifier (DESIGN.md flow 6). Where the browser
// offers BarcodeDetector, a button reads the card's QR code with the camera, fills in
// the scanned text and submits the form; the server decides. Elsewhere the page works
// without this script: paste what a scanner read.
"use strict";
(function () {
  const button = document.getElementById("scan");
  const field = document.getElementById("payload");
  const form = document.getElementById("verify-form");
  const video = document.getElementById("camera");
  const problem = document.getElementById("camera-error");
  if (!button || !field || !form || !video || !problem) return;
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;

  const label = button.textContent;
  let stream = null;
  let timer = null;

  function stop() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (stream !== null) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    button.textContent = label;
  }

  async function start() {
    problem.hidden = true;
    let detector;
    try {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
    } catch (error) {
      stop();
      problem.textContent = button.dataset.failed;
      problem.hidden = false;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    button.textContent = button.dataset.stop;
    await video.play();
    const look = async () => {
      if (stream === null) return;
      try {
        const codes = await detector.detect(video);
        if (codes.length > 0 && codes[0].rawValue) {
          field.value = codes[0].rawValue.slice(0, 200);
          stop();
          form.requestSubmit();
          return;
        }
      } catch (error) {
        // A frame the detector cannot read yet; try the next one.
      }
      timer = setTimeout(look, 250);
    };
    look();
  }

  button.hidden = false;
  button.addEventListener("click", () => {
    if (stream === null) start();
    else stop();
  });
})();
