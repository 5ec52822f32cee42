// "Tagsmith TypeScript": a notebook controller for .ipynb files that runs TypeScript cells in a
// tslab kernel process per notebook (never in the extension host), with `tagsmith` bound to the
// extension's engine. Execution order numbers, streamed output, rich outputs, interrupt and
// restart, and completions/hover in cells from the kernel's TypeScript.
import path from 'node:path';
import * as vscode from 'vscode';
import { describeExit, lastLines } from '../process/forked-process';
import { KernelProcess, type CellOutput } from './kernel-process';

const NOTEBOOK_TYPE = 'jupyter-notebook';

interface NotebookKernel {
  process: Promise<KernelProcess>;
  order: number;
}

export class TagsmithNotebookController implements vscode.Disposable {
  private readonly controller: vscode.NotebookController;
  private readonly kernels = new Map<string, NotebookKernel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly engine: () => Promise<{ url: string; token?: string }>,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.controller = vscode.notebooks.createNotebookController('tagsmith-typescript', NOTEBOOK_TYPE, 'Tagsmith TypeScript');
    this.controller.supportedLanguages = ['typescript'];
    this.controller.supportsExecutionOrder = true;
    this.controller.description = 'TypeScript with tslab; `tagsmith` is connected to the Tagsmith engine';
    this.controller.executeHandler = (cells, notebook) => this.executeAll(cells, notebook);
    this.controller.interruptHandler = (notebook) => this.interrupt(notebook);
    const cells: vscode.DocumentSelector = { notebookType: NOTEBOOK_TYPE, language: 'typescript' };
    this.disposables.push(
      this.controller,
      vscode.workspace.onDidCloseNotebookDocument((notebook) => this.shutDown(notebook)),
      vscode.languages.registerCompletionItemProvider(cells, { provideCompletionItems: (doc, pos) => this.complete(doc, pos) }, '.'),
      vscode.languages.registerHoverProvider(cells, { provideHover: (doc, pos) => this.hover(doc, pos) }),
    );
  }

  /** Kills the notebook's kernel; the next run starts a fresh one (state and counters reset). */
  async restart(notebook: vscode.NotebookDocument | undefined): Promise<void> {
    if (!notebook) return;
    this.shutDown(notebook);
    await this.kernelFor(notebook).process;
    void vscode.window.showInformationMessage(`Restarted the Tagsmith TypeScript kernel of ${path.basename(notebook.uri.path)}.`);
  }

  dispose(): void {
    for (const kernel of this.kernels.values())
      void kernel.process.then(
        (k) => k.dispose(),
        () => undefined,
      );
    this.kernels.clear();
    for (const d of this.disposables) d.dispose();
  }

  private kernelFor(notebook: vscode.NotebookDocument): NotebookKernel {
    const key = notebook.uri.toString();
    let kernel = this.kernels.get(key);
    if (!kernel) {
      const cwd = notebook.uri.scheme === 'file' ? path.dirname(notebook.uri.fsPath) : this.context.globalStorageUri.fsPath;
      const process = this.engine().then((engine) =>
        KernelProcess.start({
          scriptPath: path.join(this.context.extensionPath, 'dist', 'kernel', 'notebook-kernel.js'),
          cwd,
          engine,
          log: (line) => this.log.info(line),
        }),
      );
      kernel = { process, order: 0 };
      this.kernels.set(key, kernel);
      process.then(
        (k) =>
          k.on('exited', (exit) => {
            if (this.kernels.get(key)?.process === process) this.kernels.delete(key);
            if (!exit.requested) this.log.warn(`notebook kernel of ${notebook.uri.path} exited (${describeExit(exit)}). ${lastLines(exit.stderrTail)}`);
          }),
        () => this.kernels.delete(key),
      );
    }
    return kernel;
  }

  private async executeAll(cells: vscode.NotebookCell[], notebook: vscode.NotebookDocument): Promise<void> {
    // Cells run in order, each awaited: a failure stops the ones after it, as in Jupyter.
    for (const cell of cells) {
      if (!(await this.execute(cell, notebook))) break;
    }
  }

  private async execute(cell: vscode.NotebookCell, notebook: vscode.NotebookDocument): Promise<boolean> {
    const execution = this.controller.createNotebookCellExecution(cell);
    const kernelEntry = this.kernelFor(notebook);
    execution.start(Date.now());
    await execution.clearOutput();
    let kernel: KernelProcess;
    try {
      kernel = await kernelEntry.process;
    } catch (error) {
      await execution.replaceOutput(new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.error(error as Error)]));
      execution.end(false, Date.now());
      return false;
    }
    execution.executionOrder = ++kernelEntry.order;
    const cancel = execution.token.onCancellationRequested(() => kernel.interrupt());
    const writer = new OutputWriter(execution);
    const ok = await kernel.execute(cell.document.getText(), (output) => writer.write(output));
    await writer.flushed;
    cancel.dispose();
    execution.end(ok, Date.now());
    return ok;
  }

  private async interrupt(notebook: vscode.NotebookDocument): Promise<void> {
    const kernel = this.kernels.get(notebook.uri.toString());
    (await kernel?.process.catch(() => undefined))?.interrupt();
  }

  private shutDown(notebook: vscode.NotebookDocument): void {
    const kernel = this.kernels.get(notebook.uri.toString());
    this.kernels.delete(notebook.uri.toString());
    void kernel?.process.then(
      (k) => k.dispose(),
      () => undefined,
    );
  }

  /** The running kernel of the notebook a cell belongs to, if this controller runs it. */
  private async kernelOfCell(document: vscode.TextDocument): Promise<KernelProcess | undefined> {
    const notebook = vscode.workspace.notebookDocuments.find((nb) => nb.getCells().some((c) => c.document === document));
    const kernel = notebook && this.kernels.get(notebook.uri.toString());
    return kernel?.process.catch(() => undefined);
  }

  private async complete(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.CompletionItem[]> {
    const kernel = await this.kernelOfCell(document);
    if (!kernel) return [];
    const offset = document.offsetAt(position);
    const result = await kernel.complete(document.getText(), offset);
    const range = new vscode.Range(document.positionAt(result.start), document.positionAt(result.end));
    return result.candidates.map((label) => Object.assign(new vscode.CompletionItem(label), { range }));
  }

  private async hover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const kernel = await this.kernelOfCell(document);
    const text = kernel && (await kernel.hover(document.getText(), document.offsetAt(position)));
    return text ? new vscode.Hover(new vscode.MarkdownString().appendCodeblock(text, 'typescript')) : undefined;
  }
}

/** Turns kernel outputs into cell outputs: stream text appends to one output per stream, displays add their own. */
class OutputWriter {
  private stream?: { kind: 'stdout' | 'stderr'; output: vscode.NotebookCellOutput };
  private readonly displays = new Map<string, vscode.NotebookCellOutput>();
  private chain: Thenable<void> = Promise.resolve();

  constructor(private readonly execution: vscode.NotebookCellExecution) {}

  get flushed(): Thenable<void> {
    return this.chain;
  }

  write(output: CellOutput): void {
    // Output edits are applied in the order they came.
    this.chain = this.chain.then(() => this.apply(output));
  }

  private async apply(output: CellOutput): Promise<void> {
    if (output.kind === 'display') {
      const items = Object.entries(output.data).map(([mime, value]) => toOutputItem(mime, value));
      const existing = output.displayId ? this.displays.get(output.displayId) : undefined;
      if (existing && output.update) return void (await this.execution.replaceOutputItems(items, existing));
      const cellOutput = new vscode.NotebookCellOutput(items);
      if (output.displayId) this.displays.set(output.displayId, cellOutput);
      this.stream = undefined;
      await this.execution.appendOutput(cellOutput);
      return;
    }
    const item = output.kind === 'stdout' ? vscode.NotebookCellOutputItem.stdout(output.text) : vscode.NotebookCellOutputItem.stderr(output.text);
    if (this.stream?.kind === output.kind) {
      await this.execution.appendOutputItems(item, this.stream.output);
    } else {
      this.stream = { kind: output.kind, output: new vscode.NotebookCellOutput([item]) };
      await this.execution.appendOutput(this.stream.output);
    }
  }
}

const BINARY_MIMES = new Set(['image/png', 'image/jpeg', 'image/gif', 'application/pdf']);

function toOutputItem(mime: string, value: string): vscode.NotebookCellOutputItem {
  if (BINARY_MIMES.has(mime)) return new vscode.NotebookCellOutputItem(Buffer.from(value, 'base64'), mime);
  if (mime === 'application/json') return vscode.NotebookCellOutputItem.json(JSON.parse(value));
  return vscode.NotebookCellOutputItem.text(value, mime);
}
