// Types and typed documents from the published contract alone: the SDL and the ready operations.
// A field an operation selects that the schema lacks fails generation, so CI running this proves
// the two agree. persistedDocuments writes src/gql/persisted-documents.json (hash -> document) for
// the server's trusted-documents list.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema/schema.graphql",
  documents: ["../../schema/operations/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: {
        fragmentMasking: false,
        persistedDocuments: { hashAlgorithm: "sha256" },
      },
      config: {
        documentMode: "string",
        emitLegacyCommonJSImports: false,
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { Date: "string", DateTime: "string", JSON: "unknown" },
      },
    },
  },
};

export default config;
