"""The GraphQL contract: Strawberry types, inputs, enums, scalars and the federation schema."""
