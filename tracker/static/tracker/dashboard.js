/* The trajectory chart of one district on one indicator (ECharts 5, vendored, no CDN).
   Data comes inline from the page (#chart[data-chart]); sets data-rendered="1" when drawn. */
(function () {
  "use strict";
  var el = document.getElementById("chart");
  if (!el || !window.echarts) return;
  var data = JSON.parse(el.getAttribute("data-chart"));
  var palette = { green: "#2e9d5b", yellow: "#e0a100", red: "#d2352b", grey: "#8a939c", none: "#b8c0c9" };
  var labels = { on_track: "正常", behind: "滞后（黄）", seriously_behind: "严重滞后（红）",
                 not_reported: "未按时填报", not_due: "未到节点" };
  var chart = echarts.init(el, null, { renderer: "canvas" });
  var marks = data.milestones.map(function (m) {
    return { coord: [m.month, m.value], value: Math.round(m.value * 10) / 10, name: m.text };
  });
  var actual = data.actual.map(function (v, i) {
    var colour = data.colours && data.colours[i];
    return { value: v, itemStyle: { color: palette[colour] || "#d2352b" } };
  });
  var fmt = function (v) { return v === null || v === undefined ? "—" : (Math.round(v * 10) / 10); };
  var series = [
    { name: "序时进度（应达）", type: "line", data: data.expected, smooth: false,
      lineStyle: { type: "dashed", width: 2 }, itemStyle: { color: "#1d5fa7" }, symbolSize: 5,
      markPoint: marks.length ? { symbol: "pin", symbolSize: 40, data: marks,
        itemStyle: { color: "#1d5fa7" }, label: { fontSize: 10 } } : undefined,
      markLine: data.quota ? { symbol: "none", silent: true,
        data: [{ yAxis: data.quota, name: "任务数" }],
        lineStyle: { color: "#999", type: "dotted" }, label: { formatter: "任务数 {c}" } } : undefined },
    { name: "累计完成（填报）", type: "line", data: actual, connectNulls: false, symbolSize: 9,
      itemStyle: { color: "#444" }, lineStyle: { width: 3, color: "#444" },
      markLine: data.highlight ? { symbol: "none", silent: true,
        data: [{ xAxis: data.highlight }], lineStyle: { color: "#e0a100", type: "solid", width: 2 },
        label: { formatter: "截至" + data.highlight + "底", position: "insideEndTop" } } : undefined }
  ];
  chart.setOption({
    animation: false,
    title: { text: data.title, left: "center", textStyle: { fontSize: 15 } },
    tooltip: { trigger: "axis", formatter: function (items) {
      var i = items[0].dataIndex, s = data.statuses ? data.statuses[i] : null;
      return data.months[i] + "<br>序时应达：" + fmt(data.expected[i]) + "<br>累计完成：" +
        fmt(data.actual[i]) + (s ? "<br>状态：" + labels[s] : "");
    } },
    legend: { top: 30, data: ["序时进度（应达）", "累计完成（填报）"] },
    grid: { left: 64, right: 36, top: 74, bottom: 40 },
    xAxis: { type: "category", data: data.months, boundaryGap: false },
    yAxis: data.unit === "%" ? { type: "value", name: data.unit, scale: true }
                              : { type: "value", name: data.unit, min: 0 },
    series: series
  });
  el.setAttribute("data-rendered", "1");
  window.addEventListener("resize", function () { chart.resize(); });
})();
