// "使用当前位置": fill the longitude/latitude fields of the register forms from the device's position.
// Browsers report WGS-84, so the coordinate system is set to match. Labels come from data attributes.
(function () {
  "use strict";

  function setUp(button) {
    if (!("geolocation" in navigator)) {
      return;
    }
    var form = button.form;
    var status = button.parentElement.querySelector("[data-locate-status]");
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.dataset.labelWorking;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          form.elements.lon.value = position.coords.longitude.toFixed(6);
          form.elements.lat.value = position.coords.latitude.toFixed(6);
          form.elements.crs.value = "wgs84";
          status.textContent = button.dataset.labelDone.replace("%(m)s", String(Math.round(position.coords.accuracy)));
        },
        function () {
          status.textContent = button.dataset.labelFailed;
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  function init() {
    document.querySelectorAll("button[data-locate]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
