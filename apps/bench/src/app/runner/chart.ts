import { Adapter } from '../scenarios';
import type { BenchReport, ScenarioReport } from './report';

// Geometry of the chart, in SVG user units (pixels at 100 %).
const WIDTH = 980;
const LABEL_WIDTH = 190;
const COLUMN_GAP = 40;
const COLUMN_WIDTH = (WIDTH - LABEL_WIDTH - COLUMN_GAP - 30) / 2;
/** Room right of the longest bar for its value. */
const VALUE_ROOM = 78;
const ROW = 24;
const BAR = 15;
const PANEL_HEAD = 58;
const PANEL_GAP = 26;
const TOP = 64;

const CPU_COLOUR = '#c2410c';
const RPS_COLOUR = '#1d4ed8';
const REFERENCE_COLOUR = '#4b5563';

/**
 * The results as an SVG written by hand (no browser, no dependency): one panel per adapter,
 * one row per scenario, CPU per request at the fixed rate on the left (dashed lines: `none`
 * and `redis-floor`), saturated requests/s on the right. Each column has its own scale.
 */
export function renderChart(report: BenchReport, source: string): string {
  const adapters = Object.entries(report.adapters) as Array<
    [Adapter, Partial<Record<string, ScenarioReport>>]
  >;
  const parts: string[] = [];
  let y = TOP;
  for (const [adapter, scenarios] of adapters) {
    const rows = Object.entries(scenarios).filter(
      (row): row is [string, ScenarioReport] => row[1] !== undefined,
    );
    parts.push(panel(adapter, report.settings.fixedRates[adapter], rows, y));
    y += PANEL_HEAD + rows.length * ROW + PANEL_GAP;
  }
  const height = y + 10;
  const run = report.quick ? 'quick run' : 'full run';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(16, 26, 'Cloakroom bench: what a guard costs per request', {
      size: 17,
      weight: 'bold',
    }),
    text(
      16,
      46,
      `${run}, ${source}; ${report.machine.cores} cores, Node ${report.node}, Redis ${report.machine.redis}`,
      { fill: REFERENCE_COLOUR },
    ),
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function panel(
  adapter: Adapter,
  rate: number,
  rows: Array<[string, ScenarioReport]>,
  top: number,
): string {
  const cpuX = LABEL_WIDTH;
  const rpsX = LABEL_WIDTH + COLUMN_WIDTH + COLUMN_GAP;
  const barsTop = top + PANEL_HEAD;
  const cpuScale = scale(Math.max(...rows.map(([, s]) => s.cpuMicrosPerRequest)));
  const rpsScale = scale(Math.max(...rows.map(([, s]) => s.rps)));
  const out: string[] = [
    text(16, top + 16, adapter, { size: 15, weight: 'bold' }),
    text(cpuX, top + 38, `CPU µs per request at ${rate} req/s (lower is better)`, {
      fill: CPU_COLOUR,
      weight: 'bold',
    }),
    text(rpsX, top + 38, 'requests/s, saturated (higher is better)', {
      fill: RPS_COLOUR,
      weight: 'bold',
    }),
  ];
  rows.forEach(([name, s], i) => {
    const y = barsTop + i * ROW;
    if (i % 2 === 0) {
      out.push(`<rect x="8" y="${y - 4}" width="${WIDTH - 16}" height="${ROW}" fill="#f3f4f6"/>`);
    }
    out.push(text(LABEL_WIDTH - 10, y + BAR - 3, name, { anchor: 'end' }));
    const cpu = cpuScale(s.cpuMicrosPerRequest);
    const rps = rpsScale(s.rps);
    out.push(bar(cpuX, y, cpu, CPU_COLOUR), bar(rpsX, y, rps, RPS_COLOUR));
    out.push(text(cpuX + cpu + 5, y + BAR - 3, `${s.cpuMicrosPerRequest.toFixed(1)} µs`));
    out.push(text(rpsX + rps + 5, y + BAR - 3, `${s.rps}/s`));
  });
  const bottom = barsTop + rows.length * ROW - 4;
  for (const reference of ['none', 'redis-floor']) {
    const found = rows.find(([name]) => name === reference)?.[1];
    if (!found) continue;
    const x = cpuX + cpuScale(found.cpuMicrosPerRequest);
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${barsTop - 8}" x2="${x.toFixed(1)}" y2="${bottom}" stroke="${REFERENCE_COLOUR}" stroke-dasharray="3 3"/>`,
    );
  }
  return out.join('\n');
}

/** Maps 0..max onto the column's width, leaving room for the value label. */
function scale(max: number): (value: number) => number {
  const usable = COLUMN_WIDTH - VALUE_ROOM;
  return (value) => (max > 0 && Number.isFinite(value) ? (value / max) * usable : 0);
}

function bar(x: number, y: number, width: number, fill: string): string {
  return `<rect x="${x}" y="${y}" width="${Math.max(1, width).toFixed(1)}" height="${BAR}" rx="2" fill="${fill}"/>`;
}

function text(
  x: number,
  y: number,
  content: string,
  style: { size?: number; weight?: string; fill?: string; anchor?: 'start' | 'end' } = {},
): string {
  const attributes = [
    `x="${x.toFixed(1)}"`,
    `y="${y.toFixed(1)}"`,
    style.size ? `font-size="${style.size}"` : '',
    style.weight ? `font-weight="${style.weight}"` : '',
    `fill="${style.fill ?? '#111827'}"`,
    style.anchor ? `text-anchor="${style.anchor}"` : '',
  ].filter(Boolean);
  return `<text ${attributes.join(' ')}>${escapeXml(content)}</text>`;
}

function escapeXml(value: string): string {
  return value.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
