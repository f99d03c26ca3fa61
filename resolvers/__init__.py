"""GraphQL operations: the Query, Mutation and Subscription roots."""
