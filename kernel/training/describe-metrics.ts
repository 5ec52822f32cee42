// Cross-validated metrics in a sentence a non-expert understands. Pure (no Node, no DOM):
// the extension's messages and the dashboard both use it.
export interface MetricsForWords {
  f1: number;
  rocAuc: number;
  confusion: { truePositives: number; falseNegatives: number; falsePositives: number; trueNegatives: number };
}

/** "9 of 10 held-out positives found; 1 false alarm per 20 negatives." */
export function describeOutcome(metrics: MetricsForWords): string {
  const c = metrics.confusion;
  const positives = c.truePositives + c.falseNegatives;
  const negatives = c.falsePositives + c.trueNegatives;
  const found = `${c.truePositives} of ${positives} held-out positive${positives === 1 ? '' : 's'} found`;
  if (c.falsePositives === 0) return `${found}; no false alarms in ${negatives} negative${negatives === 1 ? '' : 's'}.`;
  // "1 false alarm per 20 negatives" reads better than "3 in 61" once the rate is what matters.
  const per = Math.round(negatives / c.falsePositives);
  const rate =
    c.falsePositives === 1 || per < 2
      ? `${c.falsePositives} false alarm${c.falsePositives === 1 ? '' : 's'} in ${negatives} negatives`
      : `about 1 false alarm per ${per} negatives`;
  return `${found}; ${rate}.`;
}

export function describeMetrics(tag: string, metrics: MetricsForWords | undefined): string {
  if (!metrics) return `Trained "${tag}".`;
  return `Trained "${tag}": F1 ${metrics.f1.toFixed(2)}, ROC AUC ${metrics.rocAuc.toFixed(2)} (cross-validated). ${describeOutcome(metrics)}`;
}
