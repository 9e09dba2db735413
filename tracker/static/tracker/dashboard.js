/* The trajectory chart of one district on one indicator (ECharts, vendored). */
(function () {
  var el = document.getElementById("chart");
  if (!el || !window.echarts) return;
  var data = JSON.parse(el.getAttribute("data-chart"));
  var chart = echarts.init(el);
  var marks = data.milestones.map(function (m) {
    return { coord: [m.month, m.value], value: Math.round(m.value * 10) / 10, name: m.text };
  });
  chart.setOption({
    animation: false,
    title: { text: data.title, left: "center", textStyle: { fontSize: 15 } },
    tooltip: { trigger: "axis" },
    legend: { top: 28, data: ["序时进度（应达）", "累计完成"] },
    grid: { left: 60, right: 30, top: 70, bottom: 40 },
    xAxis: { type: "category", data: data.months },
    yAxis: { type: "value", name: data.unit },
    series: [
      { name: "序时进度（应达）", type: "line", data: data.expected, lineStyle: { type: "dashed" },
        itemStyle: { color: "#1f5fa8" },
        markPoint: { symbol: "pin", symbolSize: 38, data: marks, itemStyle: { color: "#1f5fa8" } },
        markLine: data.quota ? { symbol: "none", data: [{ yAxis: data.quota, name: "任务数" }],
          lineStyle: { color: "#999" }, label: { formatter: "任务数 {c}" } } : undefined },
      { name: "累计完成", type: "line", data: data.actual, connectNulls: false,
        itemStyle: { color: "#d2352b" }, lineStyle: { width: 3 } }
    ]
  });
  el.setAttribute("data-rendered", "1");
  window.addEventListener("resize", function () { chart.resize(); });
})();
