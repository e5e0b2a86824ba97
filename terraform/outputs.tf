output "service_urls" {
  description = "Each Cloud Run service's URL."
  value       = { for s, m in module.service : s => m.uri }
}

output "public_url" {
  description = "The URL providers call (ATIENDE_PUBLIC_URL of ingest)."
  value       = local.public_url
}

output "webhook_url_templates" {
  description = "Per-tenant webhook URLs: replace {tenant} with the tenant id (the admin API's tenant view lists them too)."
  value = {
    twilio     = "${local.public_url}/webhooks/twilio/{tenant}"
    meta       = "${local.public_url}/webhooks/meta/{tenant}"
    chatwoot   = "${local.public_url}/webhooks/chatwoot/{tenant}"
    rocketchat = "${local.public_url}/webhooks/rocketchat/{tenant}"
    webchat    = "${local.public_url}/"
  }
}

output "dead_letter_subscriptions" {
  description = "Pub/Sub's dead-letter backstop subscriptions."
  value       = module.bus.dead_letter_subscriptions
}

output "image_registry" {
  description = "Where Cloud Build pushes the images."
  value       = local.registry
}
