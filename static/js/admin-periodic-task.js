// The admin's periodic task form (templates/admin/djcelery/change_periodictask_form.html): django-celery-beat's
// inline script as a file, for the Content Security Policy. Under the crontab menu, the chosen crontab in words.
(function () {
  "use strict";
  var $ = window.django && window.django.jQuery;
  var data = document.getElementById("readable-crontabs");
  if (!$ || !data) {
    return;
  }
  var readable = JSON.parse(data.textContent);
  var help = $(".field-crontab .help");
  var original = help.text();
  $(".field-crontab_translation").hide();
  $(".field-crontab").on("change", function () {
    var reading = readable[$("#id_crontab").val()];
    help.text(original);
    if (reading) {
      help.append(document.createElement("br"), document.createTextNode("Translation: " + reading));
    }
  });
})();
