// The appeal form: refuse a file that is too large or of the wrong kind as soon as it is chosen, so
// nothing is uploaded in vain (the server checks everything again, by content).
(function () {
  "use strict";
  var form = document.getElementById("appeal-form");
  if (!form) { return; }
  var input = document.getElementById("evidence");
  var out = document.getElementById("evidence-check");
  var allowed = /\.(pdf|jpe?g|png)$/i;
  input.addEventListener("change", function () {
    var problems = [];
    var max = Number(form.dataset.maxBytes);
    if (input.files.length > Number(form.dataset.maxFiles)) { problems.push(form.dataset.tooMany); }
    Array.prototype.forEach.call(input.files, function (file) {
      if (file.size > max) { problems.push(form.dataset.tooLarge.replace("{name}", file.name)); }
      else if (!allowed.test(file.name)) { problems.push(form.dataset.wrongType.replace("{name}", file.name)); }
    });
    out.textContent = problems.join(" ");
    if (problems.length) { input.value = ""; }
  });
})();
