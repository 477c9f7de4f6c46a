// Starts GraphiQL against this server's /graphql (the page is served there), with subscriptions
// over graphql-transport-ws. Loaded as a file, not inline, so the page's CSP needs no 'unsafe-inline' script.
(function () {
  "use strict";
  var EXAMPLE = [
    "# Perlinsos API (development only: production serves no IDE).",
    "# Run with Ctrl-Enter or the \u25B6 button; the Docs panel lists every field.",
    "#",
    "# Signed-in queries: in Headers below, put",
    '#   {"Authorization": "Bearer <IKD token>"}',
    "# (`perlinsos demo` prints tokens for a citizen, an admin and a reviewer).",
    "# A deployment with several pilots also needs an X-Perlinsos-Pilot header.",
    "",
    "{",
    "  pilots {",
    "    nodes { code name programmes registrationOpen }",
    "  }",
    "}",
    "",
  ].join("\n");

  var params = new URLSearchParams(window.location.search);
  var url = window.location.href.split("?")[0].split("#")[0];
  var ws = new URL(url);
  ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";

  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: ws.toString() });

  function App() {
    var initial = params.get("query") || EXAMPLE;
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: initial,
      query: params.get("query") || undefined,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
