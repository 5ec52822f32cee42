// Rich outputs for notebook cells: HTML tables and grids, and an SVG chart drawn here (no
// browser needed). Under tslab they are displayed at once; elsewhere they are returned.
import { describeOutcome } from '../training/describe-metrics';
import type { TagMetrics } from '../training/tag-model';
import type { Keywords, Prediction } from '../api/wire-types';
import { keywordsInWords } from '../scores/keywords-text';

export interface RichOutput {
  mime: 'text/html' | 'image/svg+xml';
  content: string;
}

interface TslabDisplay {
  html(s: string): void;
  svg(s: string): void;
}

/**
 * Shows the output in the running tslab kernel and returns nothing (so the cell does not also
 * print it as text); outside a notebook, returns it for the caller to use.
 */
export function display(output: RichOutput): RichOutput | undefined {
  const tslab = loadTslabDisplay();
  if (!tslab) return output;
  try {
    if (output.mime === 'text/html') tslab.html(output.content);
    else tslab.svg(output.content);
    return undefined;
  } catch {
    return output; // tslab is installed but this is not its kernel ("Not ready")
  }
}

function loadTslabDisplay(): TslabDisplay | undefined {
  try {
    // A runtime require, so the API works (and bundles) where tslab is absent.
    return (require('tslab') as { display: TslabDisplay }).display;
  } catch {
    return undefined;
  }
}

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number) => `${Math.round(x * 100)}%`;

const TABLE_STYLE = 'border-collapse:collapse;font-family:system-ui,sans-serif;font-size:13px';
const CELL = 'padding:4px 8px;border-bottom:1px solid #8884;vertical-align:middle;text-align:left';

function scoreBar(score: number, threshold: number | undefined, label: boolean | undefined): string {
  const colour = label === undefined ? '#1a85ff' : label ? '#388a34' : '#999';
  const mark =
    threshold === undefined
      ? ''
      : `<div title="threshold ${threshold.toFixed(2)}" style="position:absolute;left:${pct(threshold)};top:-3px;bottom:-3px;width:2px;background:#bf8803"></div>`;
  return (
    `<div style="position:relative;width:160px;height:10px;border-radius:5px;background:#8883;display:inline-block;vertical-align:middle">` +
    `<div style="width:${pct(score)};height:100%;border-radius:5px;background:${colour}"></div>${mark}</div>`
  );
}

/** One image's row: every tag's call, the base scores, and the objects found (when keywords were asked for). */
export interface PredictionRow {
  name: string;
  thumbnail?: string;
  custom: Record<string, { score: number; threshold: number; label: boolean }>;
  aesthetic: number;
  stock: number;
  keywords?: Keywords;
}

export function predictionRow(name: string, thumbnail: string | undefined, prediction: Prediction): PredictionRow {
  return {
    name,
    thumbnail,
    custom: prediction.custom,
    aesthetic: prediction.base.aesthetic.score,
    stock: prediction.base.stock.score,
    keywords: prediction.base.keywords,
  };
}

export function predictionsTable(rows: PredictionRow[]): RichOutput {
  const body = rows
    .map(({ name, thumbnail, custom, aesthetic, stock, keywords }) => {
      const tags =
        Object.entries(custom)
          .sort((a, b) => b[1].score - a[1].score)
          .map(([tag, s]) => `<div>${scoreBar(s.score, s.threshold, s.label)} <b>${escapeHtml(tag)}</b> ${s.score.toFixed(2)}${s.label ? ' ✓' : ''}</div>`)
          .join('') || '<i>no trained tags</i>';
      // "keywords: –" says the detector looked and found nothing; no line at all, that it was not asked (or is not installed).
      const objects = keywords ? `<div class="keywords">keywords: ${escapeHtml(keywordsInWords(keywords) || '–')}</div>` : '';
      const base = `aesthetic ${aesthetic.toFixed(2)} · stock ${stock.toFixed(2)}${objects}`;
      const image = thumbnail ? `<img src="${thumbnail}" alt="${escapeHtml(name)}" style="max-width:96px;max-height:96px;border-radius:3px">` : '';
      return `<tr><td style="${CELL}">${image}<div>${escapeHtml(name)}</div></td><td style="${CELL}">${tags}</td><td style="${CELL}">${base}</td></tr>`;
    })
    .join('');
  return {
    mime: 'text/html',
    content: `<table class="tagsmith-predictions" style="${TABLE_STYLE}"><thead><tr><th style="${CELL}">image</th><th style="${CELL}">custom tags (bar: score, mark: threshold)</th><th style="${CELL}">base scores</th></tr></thead><tbody>${body}</tbody></table>`,
  };
}

/** A tag's samples as a grid of thumbnails, positives then negatives. */
export function sampleGrid(tag: string, sides: { type: 'positive' | 'negative'; total: number; thumbnails: { name: string; src: string }[] }[]): RichOutput {
  const grids = sides
    .map((side) => {
      const cells = side.thumbnails
        .map(
          (t) =>
            `<figure style="margin:0;width:96px;font-size:11px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"><img src="${t.src}" alt="${escapeHtml(t.name)}" style="width:96px;height:96px;object-fit:cover;border-radius:3px"><figcaption>${escapeHtml(t.name)}</figcaption></figure>`,
        )
        .join('');
      const more = side.total > side.thumbnails.length ? `<p>… and ${side.total - side.thumbnails.length} more</p>` : '';
      return `<h4 style="margin:8px 0 4px">${side.type === 'positive' ? 'Positives' : 'Negatives'} (${side.total})</h4><div style="display:flex;flex-wrap:wrap;gap:6px">${cells}</div>${more}`;
    })
    .join('');
  return {
    mime: 'text/html',
    content: `<div class="tagsmith-samples" style="font-family:system-ui,sans-serif"><h3 style="margin:0">${escapeHtml(tag)}</h3>${grids}</div>`,
  };
}

/**
 * The held-out score distributions with the threshold, and the ROC curve, side by side, with
 * the outcome in words underneath: what the dashboard shows, as one SVG for a notebook.
 */
export function metricsChart(tag: string, m: TagMetrics): RichOutput {
  const W = 720,
    H = 300,
    pad = 40,
    plotH = 200,
    histW = 320,
    rocX = 420,
    rocW = 200;
  const bins = m.histogram.positives.length;
  const max = Math.max(1, ...m.histogram.positives, ...m.histogram.negatives);
  const bw = histW / bins;
  const y = (count: number) => pad + plotH - (count / max) * plotH;
  const bars = m.histogram.positives
    .map((p, i) => {
      const n = m.histogram.negatives[i];
      return (
        `<rect x="${pad + i * bw + 1}" y="${y(p)}" width="${bw / 2 - 1}" height="${pad + plotH - y(p)}" fill="#388a34"/>` +
        `<rect x="${pad + i * bw + bw / 2}" y="${y(n)}" width="${bw / 2 - 1}" height="${pad + plotH - y(n)}" fill="#e51400" fill-opacity="0.75"/>`
      );
    })
    .join('');
  const tx = pad + m.threshold * histW;
  const roc = m.roc.map((p, i) => `${i === 0 ? 'M' : 'L'}${(rocX + p.fpr * rocW).toFixed(1)},${(pad + plotH - p.tpr * plotH).toFixed(1)}`).join(' ');
  const text = (x: number, yy: number, s: string, extra = '') => `<text x="${x}" y="${yy}" ${extra}>${escapeHtml(s)}</text>`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui,sans-serif" font-size="12" fill="#666">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    text(pad, 20, `“${tag}”: F1 ${m.f1.toFixed(2)}, ROC AUC ${m.rocAuc.toFixed(2)} (${m.folds}-fold cross-validation)`, 'font-weight="bold" fill="#333"') +
    `<line x1="${pad}" y1="${pad + plotH}" x2="${pad + histW}" y2="${pad + plotH}" stroke="#999"/>${bars}` +
    `<line x1="${tx}" y1="${pad}" x2="${tx}" y2="${pad + plotH}" stroke="#bf8803" stroke-width="2" stroke-dasharray="6 4"/>` +
    text(tx + 4, pad + 12, `threshold ${m.threshold.toFixed(2)}`, 'fill="#bf8803"') +
    text(pad, pad + plotH + 16, '0') +
    text(pad + histW - 8, pad + plotH + 16, '1') +
    text(pad + histW / 2 - 60, pad + plotH + 16, 'held-out score') +
    `<rect x="${pad}" y="${pad + plotH + 24}" width="10" height="10" fill="#388a34"/>` +
    text(pad + 14, pad + plotH + 33, 'positives') +
    `<rect x="${pad + 90}" y="${pad + plotH + 24}" width="10" height="10" fill="#e51400"/>` +
    text(pad + 104, pad + plotH + 33, 'negatives') +
    `<rect x="${rocX}" y="${pad}" width="${rocW}" height="${plotH}" fill="none" stroke="#999"/>` +
    `<line x1="${rocX}" y1="${pad + plotH}" x2="${rocX + rocW}" y2="${pad}" stroke="#999" stroke-dasharray="4 4"/>` +
    `<path d="${roc}" fill="none" stroke="#1a85ff" stroke-width="2"/>` +
    text(rocX, pad + plotH + 16, 'false alarms →') +
    text(rocX + rocW + 6, pad + 12, '↑ found') +
    text(rocX + rocW / 2 - 20, pad - 6, 'ROC curve') +
    text(pad, H - 8, describeOutcome(m), 'fill="#333"') +
    `</svg>`;
  return { mime: 'image/svg+xml', content: svg };
}
