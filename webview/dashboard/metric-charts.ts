// The dashboard's chart.js charts, drawn from a tag's cross-validation metrics and its run
// history: score distributions with the threshold, the ROC curve, cluster sizes, F1/AUC per run.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type Plugin,
} from 'chart.js';
import type { TaskView } from '../protocol';
import type { TagSummary } from '../protocol';
import { themeColours, translucent, type ChartColours } from './theme-colors';

Chart.register(BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement, PointElement, ScatterController, Tooltip);

type Metrics = NonNullable<TagSummary['metrics']>;

/** Draws a vertical dashed line at the decision threshold on the histogram's x axis. */
const thresholdLine: Plugin<'bar'> = {
  id: 'thresholdLine',
  afterDatasetsDraw(chart, _args, options: { value?: number; colour?: string; bins?: number }) {
    if (options.value === undefined || !options.bins) return;
    const x = chart.scales.x;
    // Bars are categories; the threshold sits between bin centres in proportion.
    const position = x.getPixelForValue(options.value * options.bins - 0.5);
    const { top, bottom } = chart.chartArea;
    const ctx = chart.ctx;
    ctx.save();
    ctx.strokeStyle = options.colour ?? 'orange';
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(position, top);
    ctx.lineTo(position, bottom);
    ctx.stroke();
    ctx.fillStyle = options.colour ?? 'orange';
    ctx.fillText(`threshold ${options.value.toFixed(2)}`, Math.min(position + 4, chart.chartArea.right - 80), top + 10);
    ctx.restore();
  },
};

export class MetricCharts {
  private charts: Chart[] = [];

  constructor(private readonly canvases: { histogram: HTMLCanvasElement; roc: HTMLCanvasElement; clusters: HTMLCanvasElement; history: HTMLCanvasElement }) {}

  render(metrics: Metrics | undefined, runs: TaskView[]): void {
    for (const chart of this.charts) chart.destroy();
    this.charts = [];
    const colours = themeColours();
    Chart.defaults.color = colours.text;
    Chart.defaults.borderColor = colours.grid;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    // Drawn at once, so a screenshot or a test sees the finished chart.
    Chart.defaults.animation = false;
    if (metrics) {
      this.charts.push(this.histogram(metrics, colours), this.roc(metrics, colours), this.clusters(metrics, colours));
    }
    this.charts.push(this.history(runs, colours));
  }

  private histogram(m: Metrics, c: ChartColours): Chart {
    const bins = m.histogram.positives.length;
    const labels = Array.from({ length: bins }, (_, i) => (i / bins).toFixed(2));
    return new Chart(this.canvases.histogram, {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: 'positives', data: m.histogram.positives, backgroundColor: translucent(c.positive, 0.7), borderColor: c.positive, borderWidth: 1 },
          { label: 'negatives', data: m.histogram.negatives, backgroundColor: translucent(c.negative, 0.6), borderColor: c.negative, borderWidth: 1 },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: 'held-out score' }, grid: { display: false } },
          y: { title: { display: true, text: 'samples' }, beginAtZero: true, ticks: { precision: 0 } },
        },
        plugins: { thresholdLine: { value: m.threshold, colour: c.threshold, bins } } as Record<string, unknown>,
      },
      plugins: [thresholdLine],
    });
  }

  private roc(m: Metrics, c: ChartColours): Chart {
    return new Chart(this.canvases.roc, {
      type: 'scatter',
      data: {
        datasets: [
          {
            label: `ROC (AUC ${m.rocAuc.toFixed(3)})`,
            data: m.roc.map((p) => ({ x: p.fpr, y: p.tpr })),
            showLine: true,
            borderColor: c.accent,
            backgroundColor: translucent(c.accent, 0.15),
            fill: 'origin',
            pointRadius: 2,
          },
          {
            label: 'chance',
            data: [
              { x: 0, y: 0 },
              { x: 1, y: 1 },
            ],
            showLine: true,
            borderColor: c.grid,
            borderDash: [4, 4],
            pointRadius: 0,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { min: 0, max: 1, title: { display: true, text: 'false alarms (share of negatives)' } },
          y: { min: 0, max: 1, title: { display: true, text: 'found (share of positives)' } },
        },
      },
    });
  }

  private clusters(m: Metrics, c: ChartColours): Chart {
    return new Chart(this.canvases.clusters, {
      type: 'bar',
      data: {
        labels: m.clusterSizes.map((_, i) => `cluster ${i + 1}`),
        datasets: [
          { label: 'positives per cluster', data: m.clusterSizes, backgroundColor: translucent(c.accent, 0.7), borderColor: c.accent, borderWidth: 1 },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: false } },
      },
    });
  }

  private history(runs: TaskView[], c: ChartColours): Chart {
    const done = runs.filter((r) => r.state === 'done' && r.metrics);
    const labels = done.map((r, i) => `#${i + 1}`);
    return new Chart(this.canvases.history, {
      type: 'line',
      data: {
        labels,
        datasets: [
          { label: 'F1', data: done.map((r) => r.metrics!.f1), borderColor: c.accent, backgroundColor: c.accent, pointRadius: 4 },
          { label: 'ROC AUC', data: done.map((r) => r.metrics!.rocAuc), borderColor: c.positive, backgroundColor: c.positive, pointRadius: 4 },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { min: 0, max: 1 } },
        plugins: { tooltip: { callbacks: { title: (items) => new Date(done[items[0].dataIndex].finishedAt ?? '').toLocaleString() } } },
      },
    });
  }
}
