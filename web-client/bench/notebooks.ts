/**
 * The notebook both sides of the benchmark open: 200 cells of about 2 KB
 * of source each with a small output, as the issue measured JupyterLab on.
 * Every fourth cell is markdown with math; the rest are code.
 */

/** About 2 KB of Python for cell `i`. */
function codeSource(i: number): string[] {
  const lines = [`import math\n`, `values_${i} = [math.sqrt(k) for k in range(${i})]\n`];
  for (let j = 0; lines.join("").length < 1950; j++) {
    lines.push(`scaled_${i}_${j} = [v * ${j + 1} + ${i} for v in values_${i}]  # step ${j} of the transform\n`);
  }
  lines.push(`print(len(values_${i}))`);
  return lines;
}

/** About 2 KB of markdown with inline math for cell `i`. */
function markdownSource(i: number): string[] {
  const lines = [`## Part ${i}\n`, "\n"];
  for (let j = 0; lines.join("").length < 1950; j++) {
    lines.push(`Paragraph ${j}: the sum $a_${j}^2+b_${j}^2$ grows with **step ${j}**, as the table in part ${i} shows.\n`);
  }
  return lines;
}

export function benchNotebook(n: number): string {
  const cells = [];
  for (let i = 0; i < n; i++) {
    cells.push(
      i % 4 === 0
        ? { id: `md-${i}`, cell_type: "markdown", metadata: {}, source: markdownSource(i) }
        : {
            id: `code-${i}`,
            cell_type: "code",
            metadata: {},
            execution_count: i,
            source: codeSource(i),
            outputs: [
              { output_type: "stream", name: "stdout", text: [`${i}\n`] },
              { output_type: "execute_result", execution_count: i, metadata: {}, data: { "text/plain": [`${i * 2}`] } },
            ],
          },
    );
  }
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells,
  });
}
