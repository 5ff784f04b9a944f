// "Use my location" on the public report form: the browser's position is WGS-84.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-locate]");
    if (!button || !("geolocation" in navigator)) return;
    var status = document.querySelector("[data-locate-status]");
    var form = button.closest("form");
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.dataset.labelWorking;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          form.elements.lon.value = position.coords.longitude.toFixed(6);
          form.elements.lat.value = position.coords.latitude.toFixed(6);
          form.elements.crs.value = "wgs84";
          status.textContent = button.dataset.labelDone;
        },
        function () {
          status.textContent = button.dataset.labelFailed;
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  });
})();
