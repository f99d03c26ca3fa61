"""The GraphQL type system: output types, inputs, scalars, the typed context, DataLoaders."""
