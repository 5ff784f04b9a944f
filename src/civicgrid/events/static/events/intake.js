/* The report and phone-intake forms: the minor categories follow the chosen major one; the location is
   picked on a Leaflet map (WGS-84, like the grid layer) or typed in WGS-84 or GCJ-02, and each point is
   looked up on the server (its grid, and its WGS-84 position for the marker). Configuration comes from
   data attributes (no inline script: the CSP forbids it). Without JavaScript the form still works. */
(function () {
  "use strict";

  function categories(form) {
    var major = form.querySelector("#major");
    var minor = form.querySelector("#category");
    if (!major || !minor) return;
    function apply() {
      var value = major.value;
      Array.prototype.forEach.call(minor.querySelectorAll("optgroup"), function (group) {
        var show = !value || group.dataset.major === value;
        group.hidden = !show;
        group.disabled = !show;
      });
      var chosen = minor.options[minor.selectedIndex];
      if (value && chosen && chosen.dataset.major && chosen.dataset.major !== value) minor.value = "";
    }
    major.addEventListener("change", apply);
    minor.addEventListener("change", function () {
      var chosen = minor.options[minor.selectedIndex];
      if (chosen && chosen.dataset.major && major.value !== chosen.dataset.major) {
        major.value = chosen.dataset.major;
        apply();
      }
    });
    apply();
  }

  function picker(form, box) {
    var d = box.dataset;
    var lon = form.querySelector("#lon");
    var lat = form.querySelector("#lat");
    var crs = form.querySelector("#crs");
    var status = document.getElementById("pick-status");
    var map = null;
    var marker = null;
    var asked = 0;

    function show(text, bad) {
      status.textContent = text;
      status.className = "small " + (bad ? "error" : "ok");
    }

    function mark(latitude, longitude) {
      if (!map) return;
      var at = [latitude, longitude];
      if (marker) marker.setLatLng(at);
      else marker = L.circleMarker(at, { radius: 9, color: "#b71c1c", weight: 3, fillColor: "#fff", fillOpacity: 0.9 }).addTo(map);
    }

    function locate() {
      var x = parseFloat(lon.value);
      var y = parseFloat(lat.value);
      if (!isFinite(x) || !isFinite(y)) return;
      var ticket = ++asked;
      var url = d.locateUrl + "?" + new URLSearchParams({ lon: String(x), lat: String(y), crs: crs.value });
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (ticket !== asked) return;
          var b = res.body;
          if (!res.ok) { show((b && b.message) || d.labelFailed, true); return; }
          mark(b.lat, b.lon);
          if (b.outside) { show(d.labelOutside, true); return; }
          var where = [b.town_name, b.community_name, b.grid_name].filter(Boolean).join(" · ");
          if (!b.in_area) { show(d.labelOutOfArea + "：" + where, true); return; }
          show(d.labelGrid + "：" + where, false);
          box.dataset.grid = b.grid || "";
        })
        .catch(function () { if (ticket === asked) show(d.labelFailed, true); });
    }

    if (typeof L !== "undefined") {
      map = L.map(box, { zoomSnap: 0.25 });
      if (d.tileUrl) L.tileLayer(d.tileUrl, { maxZoom: 19 }).addTo(map);
      map.setView([22.938, 113.364], 13);
      fetch(d.gridsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          var grids = L.geoJSON(data, {
            style: function () { return { color: "#0b5cad", weight: 1, fillColor: "#0b5cad", fillOpacity: 0.08 }; },
            onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name, { sticky: true }); }
          }).addTo(map);
          if (data.features.length) map.fitBounds(grids.getBounds(), { padding: [8, 8] });
          box.dataset.loaded = String(data.features.length);
          if (lon.value && lat.value) locate();
        })
        .catch(function () { box.dataset.loaded = "0"; });
      map.on("click", function (e) {
        lon.value = e.latlng.lng.toFixed(6);
        lat.value = e.latlng.lat.toFixed(6);
        crs.value = "wgs84";
        mark(e.latlng.lat, e.latlng.lng);
        locate();
      });
    }
    [lon, lat, crs].forEach(function (input) { input.addEventListener("change", locate); });

    var button = form.querySelector("button[data-locate]");
    if (button && "geolocation" in navigator) {
      button.hidden = false;
      button.addEventListener("click", function () {
        show(button.dataset.labelWorking, false);
        navigator.geolocation.getCurrentPosition(
          function (position) {
            lon.value = position.coords.longitude.toFixed(6);
            lat.value = position.coords.latitude.toFixed(6);
            crs.value = "wgs84"; // browsers report WGS-84
            locate();
          },
          function () { show(button.dataset.labelFailed, true); },
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
        );
      });
    }
  }

  function init() {
    var form = document.querySelector("form[data-testid=report-form]");
    if (!form) return;
    categories(form);
    var box = document.getElementById("pick-map");
    if (box) picker(form, box);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
