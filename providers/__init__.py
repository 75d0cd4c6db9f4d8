"""Provider adapters: domain models, the provider contract and one package per provider."""
