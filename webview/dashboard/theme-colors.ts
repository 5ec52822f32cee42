// Chart colours come from the VS Code theme (its `--vscode-charts-*` variables), so charts
// read right in light, dark and high-contrast themes; the fallbacks only matter outside VS Code.
export interface ChartColours {
  positive: string;
  negative: string;
  accent: string;
  threshold: string;
  text: string;
  grid: string;
}

export function themeColours(): ChartColours {
  const style = getComputedStyle(document.body);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    positive: read('--vscode-charts-green', '#388a34'),
    negative: read('--vscode-charts-red', '#e51400'),
    accent: read('--vscode-charts-blue', '#1a85ff'),
    threshold: read('--vscode-charts-yellow', '#bf8803'),
    text: read('--vscode-charts-foreground', read('--vscode-foreground', '#616161')),
    grid: read('--vscode-charts-lines', 'rgba(128,128,128,0.35)'),
  };
}

/** The same colour with an alpha, for filled areas. */
export function translucent(colour: string, alpha: number): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(colour);
  if (!hex) return colour;
  const n = Number.parseInt(hex[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
