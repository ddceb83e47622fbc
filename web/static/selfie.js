// The selfie step: take the photo with the phone's camera (getUserMedia) or choose a file, and run
// the server's quality checks at once, so the reason a photo is refused shows before it is sent.
(function () {
  "use strict";
  var form = document.getElementById("photo-form");
  if (!form) { return; }
  var input = document.getElementById("selfie");
  var result = document.getElementById("selfie-result");
  var preview = document.getElementById("selfie-preview");
  var camera = document.getElementById("camera");
  var video = document.getElementById("camera-video");
  var startButton = document.getElementById("camera-start");
  var stream = null;

  function say(text, ok) {
    result.textContent = text;
    result.className = "mt-2 alert " + (ok === true ? "alert-success" : ok === false ? "alert-danger" : "alert-info");
  }

  function show(file) {
    // A data: URL, which the page's image policy allows (blob: URLs it does not).
    var reader = new FileReader();
    reader.onload = function () { preview.src = reader.result; preview.hidden = false; };
    reader.readAsDataURL(file);
  }

  function check(file) {
    if (file.size > Number(form.dataset.maxBytes)) { say(form.dataset.tooLarge, false); return; }
    say(form.dataset.checking, null);
    var data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    data.append("selfie", file, file.name || "selfie.jpg");
    fetch(form.dataset.checkUrl, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
      .then(function (answer) { say(answer.message, answer.ok); })
      .catch(function () { say(form.dataset.checkFailed, null); });
  }

  input.addEventListener("change", function () {
    if (input.files.length) { show(input.files[0]); check(input.files[0]); }
  });

  function stopCamera() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    camera.hidden = true;
    startButton.hidden = false;
    startButton.focus();
  }

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.DataTransfer) {
    startButton.hidden = false;
    startButton.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          camera.hidden = false;
          startButton.hidden = true;
          video.play();
          document.getElementById("camera-shoot").focus();
        })
        .catch(function () { startButton.hidden = true; input.focus(); });
    });
    document.getElementById("camera-stop").addEventListener("click", stopCamera);
    document.getElementById("camera-shoot").addEventListener("click", function () {
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(function (blob) {
        var file = new File([blob], "selfie.jpg", { type: "image/jpeg" });
        var transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
        stopCamera();
        show(file);
        check(file);
      }, "image/jpeg", 0.92);
    });
  }
})();
