"""Thin views: parse input, call one selector or service, answer in Pipedrive's envelope."""
