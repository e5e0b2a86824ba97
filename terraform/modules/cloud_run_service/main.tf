# One atiende service on Cloud Run: its own service account, its image, plain settings as
# environment variables and secrets from Secret Manager, scaling and request limits.

resource "google_cloud_run_v2_service" "service" {
  name                = var.name
  location            = var.region
  ingress             = var.ingress
  deletion_protection = false

  template {
    service_account                  = var.service_account
    max_instance_request_concurrency = var.concurrency
    timeout                          = "${var.request_timeout_seconds}s"

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # Background work (the processor's rolling summaries, the desk wait watch) needs CPU
        # between requests.
        cpu_idle = !var.cpu_always_allocated
      }

      dynamic "env" {
        for_each = var.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/health/ready"
        }
        period_seconds    = 2
        failure_threshold = 30
      }

      liveness_probe {
        http_get {
          path = "/health/live"
        }
        period_seconds = 30
      }
    }
  }
}

# Who may call it: Pub/Sub's push identity for the consumers, everyone for the public webhooks.
resource "google_cloud_run_v2_service_iam_member" "invokers" {
  for_each = toset(var.invokers)
  name     = google_cloud_run_v2_service.service.name
  location = var.region
  role     = "roles/run.invoker"
  member   = each.value
}
