/* The grid map: Leaflet, grids coloured by town, click for details, topology problems of a draft.
   Configuration comes from data attributes on #map (no inline script: the CSP forbids it). */
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function init() {
    var box = document.getElementById("map");
    if (!box || typeof L === "undefined") return;
    var d = box.dataset;
    var map = L.map(box, { preferCanvas: true, zoomSnap: 0.25 });
    if (d.tileUrl) {
      L.tileLayer(d.tileUrl, { maxZoom: 19 }).addTo(map);
    } else {
      box.classList.add("no-tiles");
    }
    map.setView([22.93, 113.42], 11);
    var select = document.getElementById("layer-select");
    if (select) select.addEventListener("change", function () { document.getElementById("layer-form").submit(); });

    var status = document.getElementById("map-status");
    var info = document.getElementById("grid-info");
    status.textContent = d.labelLoading;
    var towns = {};
    var townOrder = [];

    function colour(code) {
      if (!(code in towns)) { towns[code] = PALETTE[townOrder.length % PALETTE.length]; townOrder.push(code); }
      return towns[code];
    }

    function show(props) {
      info.innerHTML = "";
      info.appendChild(el("h3", props.name));
      var dl = el("dl", undefined, "kv");
      var rows = [
        [d.labelCode, props.code], [d.labelCommunity, props.community_name + "（" + props.community_code + "）"],
        [d.labelTown, props.town_name], [d.labelWorkers, props.workers.length ? props.workers.join(d.listSeparator || "、") : d.labelNone],
        [d.labelHouseholds, props.households === null ? "—" : String(props.households)],
        [d.labelArea, props.area_km2 + " km²"]
      ];
      rows.forEach(function (row) { dl.appendChild(el("dt", row[0])); dl.appendChild(el("dd", row[1])); });
      info.appendChild(dl);
      var limit = parseInt(d.householdsWarning, 10);
      if (props.households !== null && limit && props.households > limit) info.appendChild(el("p", d.labelTooMany, "error"));
    }

    var selected = null;
    fetch(d.gridsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        var layer = L.geoJSON(data, {
          style: function (f) {
            return { color: "#ffffff", weight: 0.6, fillColor: colour(f.properties.town_code), fillOpacity: 0.55 };
          },
          onEachFeature: function (f, lyr) {
            lyr.on("click", function () {
              if (selected) layer.resetStyle(selected);
              selected = lyr;
              lyr.setStyle({ color: "#111", weight: 2.5, fillOpacity: 0.75 });
              show(f.properties);
            });
            lyr.bindTooltip(f.properties.code + " " + f.properties.name, { sticky: true });
          }
        }).addTo(map);
        if (data.features.length) map.fitBounds(layer.getBounds(), { padding: [10, 10] });
        status.textContent = data.features.length + " / " + data.layer.name;
        box.dataset.loaded = String(data.features.length);
        var legend = document.getElementById("legend");
        var names = {};
        data.features.forEach(function (f) { names[f.properties.town_code] = f.properties.town_name; });
        townOrder.forEach(function (code) {
          var li = el("li");
          var swatch = el("span", "", "swatch");
          swatch.style.background = towns[code];
          li.appendChild(swatch);
          li.appendChild(document.createTextNode(names[code] || code));
          legend.appendChild(li);
        });
        if (d.draft) return fetch(d.problemsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); });
        return null;
      })
      .then(function (problems) {
        if (!problems) return;
        L.geoJSON(problems, {
          style: function () { return { color: "#c62828", weight: 2, fillColor: "#c62828", fillOpacity: 0.6 }; },
          pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 7, color: "#c62828" }); },
          onEachFeature: function (f, lyr) { lyr.bindPopup(f.properties.kind_display + "：" + f.properties.message); }
        }).addTo(map);
        box.dataset.problems = String(problems.features.length);
      })
      .catch(function (err) { status.textContent = d.labelFailed + ": " + err; });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
