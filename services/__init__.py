"""Ragline services: one package per process, coupled only through protos/ragline/v1."""
