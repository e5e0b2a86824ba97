variable "project_id" {
  description = "The GCP project that hosts atiende."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services."
  type        = string
  default     = "us-central1"
}

variable "processor_push_endpoint" {
  description = "The processor's push URL: https://<processor service>/pubsub/push/atiende-processor-inbound."
  type        = string
}

variable "dispatcher_push_endpoint" {
  description = "The dispatcher's push URL: https://<dispatcher service>/pubsub/push/atiende-dispatcher-outbound."
  type        = string
}

variable "push_service_account" {
  description = "Service account whose OIDC token Pub/Sub attaches to push requests (granted run.invoker on the consumers)."
  type        = string
}

variable "max_delivery_attempts" {
  description = "Deliveries before Pub/Sub moves a message to the dead-letter topic (5-100)."
  type        = number
  default     = 10
}
