#!/bin/sh
# BeforeAllowTraffic: the replacement task set is up; check it answers before it gets traffic.
echo "BeforeAllowTraffic for $DEPLOYMENT_ID ($APPLICATION_NAME/$DEPLOYMENT_GROUP_NAME)"
