"""SMART App Launch: the views, the launch flow, the SMART client, browser binding, sessions and the app's keys."""
