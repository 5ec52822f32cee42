// Shows an engine error as its message, with the action that helps.
import * as vscode from 'vscode';
import { describeError } from '../logic/error-messages';

export async function showError(error: unknown, actions: { showLog(): void; restartEngine(): Promise<void>; addSamples(): Promise<void> }): Promise<void> {
  const message = describeError(error);
  const choice = message.actionLabel
    ? await vscode.window.showErrorMessage(message.text, message.actionLabel)
    : await vscode.window.showErrorMessage(message.text);
  if (!choice) return;
  if (message.action === 'showLog') actions.showLog();
  if (message.action === 'restartEngine') await actions.restartEngine();
  if (message.action === 'addSamples') await actions.addSamples();
}
