from django.contrib import admin

from .models import Deal, Lead, Organization, Project

# Person's admin is in inbox/admin.py: saving a person's addresses links their conversations
# (an inbox write), and crm never imports inbox.
for model in (Organization, Deal, Lead, Project):
    admin.site.register(model)
