"""Adapters from notify's :class:`~services.notify.domain.delivery.Provider` interface to outside APIs."""
