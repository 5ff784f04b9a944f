/* Event maps: the case page's location (data-mode="case") and the map of an area's open cases
   (data-mode="cases"), coloured by urgency, over the grid layer. Configuration comes from data attributes
   on the map element (no inline script: the CSP forbids it). Coordinates are WGS-84 like the grids. */
(function () {
  "use strict";
  var COLOURS = { escalated: "#7f0000", overdue: "#d32f2f", supervised: "#ef8f00", normal: "#1565c0" };

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    });
  }

  function base(box) {
    var map = L.map(box, { zoomSnap: 0.25, preferCanvas: true });
    if (box.dataset.tileUrl) L.tileLayer(box.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    map.setView([22.938, 113.364], 12);
    return map;
  }

  function grids(map, url, fit) {
    if (!url) return Promise.resolve(null);
    return getJSON(url).then(function (data) {
      var layer = L.geoJSON(data, {
        style: function () { return { color: "#7a8a9a", weight: 0.8, fillColor: "#ffffff", fillOpacity: 0.35 }; },
        onEachFeature: function (f, lyr) { lyr.bindTooltip(f.properties.name, { sticky: true }); }
      }).addTo(map);
      layer.bringToBack();
      if (fit && data.features.length) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
      map.getContainer().dataset.grids = String(data.features.length);
      return layer;
    });
  }

  function casePoint(box) {
    var map = base(box);
    var at = [parseFloat(box.dataset.lat), parseFloat(box.dataset.lon)];
    map.setView(at, 16);
    L.circleMarker(at, { radius: 9, color: "#b71c1c", weight: 3, fillColor: "#fff", fillOpacity: 0.9 }).addTo(map);
    grids(map, box.dataset.gridsUrl, false).then(function () { box.dataset.loaded = "1"; }).catch(function () {});
  }

  function urgency(p) {
    if (p.escalation_level > 0) return "escalated";
    if (p.overdue) return "overdue";
    if (p.supervised) return "supervised";
    return "normal";
  }

  function cases(box) {
    var d = box.dataset;
    var map = base(box);
    var status = document.getElementById("events-map-status");
    var info = document.getElementById("events-map-info");
    var select = document.getElementById("map-show");
    if (select) select.addEventListener("change", function () { document.getElementById("map-filter").submit(); });
    status.textContent = d.labelLoading;

    function showCase(p) {
      info.innerHTML = "";
      info.appendChild(el("h3", p.title));
      var dl = el("dl", undefined, "kv");
      var kind = urgency(p);
      var urgencyLabel = d["label" + kind.charAt(0).toUpperCase() + kind.slice(1)];
      var rows = [
        [d.labelNumber, p.number], [d.labelCategory, p.category], [d.labelState, p.state_label + " · " + urgencyLabel],
        [d.labelDue, p.due_at ? p.due_at.slice(5, 16).replace("T", " ") + (p.due_provisional ? "（" + d.labelProvisional + "）" : "") : "—"]
      ];
      rows.forEach(function (row) { dl.appendChild(el("dt", row[0])); dl.appendChild(el("dd", row[1])); });
      info.appendChild(dl);
      var link = el("a", d.labelOpen + " →");
      link.href = d.caseUrl.replace("NUMBER", encodeURIComponent(p.number));
      link.setAttribute("data-testid", "map-open-case");
      info.appendChild(link);
    }

    var gridsDone = grids(map, d.gridsUrl, true).catch(function () { return null; });
    getJSON(d.url)
      .then(function (data) {
        var layer = L.geoJSON(data, {
          pointToLayer: function (f, latlng) {
            var colour = COLOURS[urgency(f.properties)];
            return L.circleMarker(latlng, { radius: 7, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 0.95 });
          },
          onEachFeature: function (f, lyr) {
            lyr.bindTooltip(f.properties.number + " " + f.properties.title);
            lyr.on("click", function () { showCase(f.properties); });
          }
        }).addTo(map);
        gridsDone.then(function (g) {
          layer.bringToFront();
          if (data.features.length > 1) map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 15 });
          else if (data.features.length === 1) map.setView(layer.getLayers()[0].getLatLng(), 14);
          else if (!g) map.setView([22.938, 113.364], 11);
        });
        status.textContent = data.features.length + " " + d.labelCount + (data.truncated ? d.labelTruncated : "");
        box.dataset.loaded = String(data.features.length);
      })
      .catch(function (err) { status.textContent = d.labelFailed + ": " + err.message; });
  }

  function init() {
    if (typeof L === "undefined") return;
    document.querySelectorAll("[data-mode=case]").forEach(casePoint);
    document.querySelectorAll("[data-mode=cases]").forEach(cases);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
