// Starts `mgdsl lsp` (the language server in the mgdsl Python package) for .mg files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("mgdsl").get("command", ["mgdsl", "lsp"]);
  const server = { command, args };
  client = new LanguageClient("mgdsl", "mgdsl language server", { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "mgdsl" }, { scheme: "untitled", language: "mgdsl" }] });
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
