/**
 * The grid page (`<grid dir>/table/grid.html`, written by `grid table`): the Fig. 2 style table of
 * every metric as HTML, self-contained like the run pages (no script, no outside resources, all
 * text escaped). Each value carries the exact numbers and seeds in its tooltip; a recipe row
 * links to the report page of each seed's run where one exists.
 */
import { esc, pageHead } from './html.js';

export interface GridHtmlCell {
  /** Shown text, e.g. `80.9 ± 1.2`. */
  text: string;
  /** Tooltip: exact mean, std, n, seeds. */
  title?: string;
}

export interface GridHtmlRow {
  label: string;
  ensemble?: boolean;
  cells: GridHtmlCell[];
  /** Links (relative to the page) to the report pages of the row's runs. */
  links?: Array<{ text: string; href: string }>;
}

export interface GridHtmlSection {
  metric: string;
  caption: string;
  columns: string[];
  rows: GridHtmlRow[];
}

export function gridHtml(o: { name: string; sections: GridHtmlSection[]; warnings: string[]; generated?: Date }): string {
  const generated = o.generated ?? new Date();
  const table = (s: GridHtmlSection) => {
    const head = ['recipe', ...s.columns].map((c) => `<th>${esc(c)}</th>`).join('');
    const rows = s.rows.map((r) => {
      const links = r.links?.length ? ` <span class="note">(${r.links.map((l) => `<a href="${esc(l.href)}">${esc(l.text)}</a>`).join(' ')})</span>` : '';
      const label = r.ensemble ? `<i>${esc(r.label)}</i>` : esc(r.label);
      return `<tr><td>${label}${links}</td>${r.cells.map((c) => `<td class="num"${c.title ? ` title="${esc(c.title)}"` : ''}>${esc(c.text)}</td>`).join('')}</tr>`;
    });
    return (
      `<section id="${esc(s.metric)}"><h2>${esc(s.metric)}</h2><p class="note">${esc(s.caption)}</p>` +
      `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`
    );
  };
  return `${pageHead(`asdkit grid — ${o.name}`)}
<header><h1>Grid ${esc(o.name)}</h1>
<p class="meta">mean ± sample std over seeds of each run's <code>total</code> · generated ${esc(generated.toISOString())} by asdkit grid table</p></header>
${o.warnings.length ? `<section class="problems"><h2>Warnings</h2><ul>${o.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></section>` : ''}
${o.sections.map(table).join('\n')}
</body>
</html>
`;
}
