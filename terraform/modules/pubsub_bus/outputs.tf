output "topics" {
  description = "The bus topics, by name."
  value       = { for k, t in google_pubsub_topic.bus : k => t.id }
}

output "dead_letter_subscriptions" {
  description = "Where messages Pub/Sub gave up on are kept (pull them to inspect)."
  value       = [for s in google_pubsub_subscription.dead_letter : s.id]
}

output "push_endpoints" {
  description = "Each topic's push endpoint (the audience of the OIDC tokens Pub/Sub sends)."
  value       = { for k, v in local.bus : k => v.endpoint }
}
