# The bus: the same topology as the embedded bus (crates/domain/src/events.rs) and as
# atiende_adapter_gcp::pubsub::ensure_topology on the emulator.
#   atiende-inbound  -> atiende-processor-inbound   -> processor  (ingest publishes)
#   atiende-outbound -> atiende-dispatcher-outbound -> dispatcher (processor publishes)
# Messages carry an ordering key (the conversation), so subscriptions enable ordering.

locals {
  bus = {
    "atiende-inbound" = {
      subscription = "atiende-processor-inbound"
      endpoint     = "${var.processor_url}/pubsub/push/atiende-processor-inbound"
    }
    "atiende-outbound" = {
      subscription = "atiende-dispatcher-outbound"
      endpoint     = "${var.dispatcher_url}/pubsub/push/atiende-dispatcher-outbound"
    }
  }
  pubsub_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "bus" {
  for_each                   = local.bus
  name                       = each.key
  message_retention_duration = "86400s"
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
  # For push also the request timeout: the processor's model deadline must fit in it.
  ack_deadline_seconds = var.ack_deadline_seconds

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

  # The consumers park a message that keeps failing after ATIENDE_BUS__MAX_ATTEMPTS deliveries
  # (with its reason, in Firestore); this is the backstop for one that dies holding it.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent forwards to the dead-letter topics and acknowledges what it moved.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.bus
  topic    = google_pubsub_topic.dead_letter[each.key].id
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.bus
  subscription = google_pubsub_subscription.bus[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# Pub/Sub mints OIDC tokens for the push service account.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = "projects/${var.project_id}/serviceAccounts/${var.push_service_account}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}
