# The bus: the same topology as the embedded bus (crates/domain/src/events.rs).
#   atiende-inbound  -> atiende-processor-inbound   -> processor  (ingest publishes)
#   atiende-outbound -> atiende-dispatcher-outbound -> dispatcher (processor publishes)
# Messages carry an ordering key (the conversation), so subscriptions enable ordering.

locals {
  bus = {
    "atiende-inbound" = {
      subscription = "atiende-processor-inbound"
      endpoint     = var.processor_push_endpoint
    }
    "atiende-outbound" = {
      subscription = "atiende-dispatcher-outbound"
      endpoint     = var.dispatcher_push_endpoint
    }
  }
}

resource "google_pubsub_topic" "bus" {
  for_each = local.bus
  name     = each.key
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = local.bus
  name     = "${each.key}-dead-letter"
}

# Dead letters are kept for inspection: a topic without a subscription would drop them.
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local.bus
  name                       = "${each.value.subscription}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "bus" {
  for_each                = local.bus
  name                    = each.value.subscription
  topic                   = google_pubsub_topic.bus[each.key].id
  enable_message_ordering = true
  ack_deadline_seconds    = 120

  push_config {
    push_endpoint = each.value.endpoint
    oidc_token {
      service_account_email = var.push_service_account
      audience              = each.value.endpoint
    }
  }

  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}
