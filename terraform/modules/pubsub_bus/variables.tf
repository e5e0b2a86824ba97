variable "project_id" {
  description = "The project."
  type        = string
}

variable "project_number" {
  description = "The project's number (names the Pub/Sub service agent)."
  type        = string
}

variable "processor_url" {
  description = "The processor service's URL; its push route is /pubsub/push/atiende-processor-inbound."
  type        = string
}

variable "dispatcher_url" {
  description = "The dispatcher service's URL; its push route is /pubsub/push/atiende-dispatcher-outbound."
  type        = string
}

variable "push_service_account" {
  description = "Email of the service account whose OIDC token Pub/Sub attaches to push requests."
  type        = string
}

variable "ack_deadline_seconds" {
  description = "Push request timeout and ack deadline (10-600 s)."
  type        = number
  default     = 120
}

variable "max_delivery_attempts" {
  description = "Deliveries before Pub/Sub moves a message to the dead-letter topic (5-100)."
  type        = number
  default     = 60
}
